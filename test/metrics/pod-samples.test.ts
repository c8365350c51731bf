// A group read from PodMetrics alone leaves one load sample per metrics-server sample (15 s apart),
// dated when metrics-server took it, not one per 1-s tick dated at the tick. Before, each tick left
// the same 15-s measurement again: 14 copies in 14 ticks, the panic window averaging a load up to
// 30 s old as if it were seen that second, and a forecast bucket weighing a sample by how long it
// stayed unchanged. The HPA reads a pod metric at its `timestamp`.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { GroupReadings } from '../../src/metrics/group-readings.js';
import type { Instance, PodUsage } from '../../src/providers/types.js';

const KUBE_CPU = `groups:
  web:
    provider: kubernetes
    name: web
    max_instances: 4
    scaling:
      metrics:
        - cpu: { target: 50 }
`;

const pod: Instance = { id: 'web-1', group: 'web', address: '10.0.0.1:8080', state: 'ready', startedAt: 0 };

/** A pod Ready for an hour, measured at `sampledAt` using `cpu` cores of its 0.5-core request. */
const usage = (sampledAt: number, cpu: number): PodUsage => ({
  id: 'web-1',
  cpu,
  requests: { cpu: 0.5 },
  sampledAt,
  windowMs: 15_000,
  pod: {
    phase: 'Running',
    startedAt: sampledAt - 3_600_000,
    ready: { status: 'True', since: sampledAt - 3_500_000 },
  },
});

describe('GroupReadings: PodMetrics load samples', () => {
  it('one sample per metrics-server sample, dated at its timestamp, however many ticks read it', async () => {
    const answered = new EventEmitter();
    let served: PodUsage[] = [usage(Date.now() - 5_000, 0.4)];
    const readings = new GroupReadings({
      group: parseConfig(KUBE_CPU, { baseDir: '/srv/app' }).groups.web!,
      instances: () => [pod],
      sampleCpu: () => new Map(),
      sampleMemory: () => new Map(),
      memoryMaxAge: 10_000,
      readPodUsage: async () => {
        setImmediate(() => answered.emit('read'));
        return served;
      },
      createSource: () => {
        throw new Error('no polled source here');
      },
      interval: 1000,
      onSourceError: () => {},
    });
    assert.equal(readings.samplesComplete, true, 'a group read from PodMetrics alone has complete samples');
    let read = once(answered, 'read');
    readings.sample(0);
    await read;
    // Fourteen 1-s ticks before the next PodMetrics read is due (15 s): the same sample each time.
    for (let t = 1000; t < 15_000; t += 1000) readings.sample(t);
    const first = readings.takeSamples();
    assert.equal(first.length, 1, `one sample for one measurement, got ${JSON.stringify(first)}`);
    // 0.4 of 0.5 cores at a 50 % target: 1.6 instances' worth; taken ≥ 5 s before the tick that left it.
    assert.equal(first[0]!.load, 1.6, `load ${first[0]!.load}`);
    assert.ok(first[0]!.at <= 1000 - 5_000, `dated at its timestamp (≤ -4000), got at ${first[0]!.at}`);

    // metrics-server's next scrape: a new sample, read when due, left once.
    served = [usage(Date.now() - 1_000, 0.2)];
    read = once(answered, 'read');
    readings.sample(15_000);
    await read;
    for (let t = 16_000; t < 20_000; t += 1000) readings.sample(t);
    const second = readings.takeSamples();
    assert.equal(second.length, 1, `one sample for the new measurement, got ${JSON.stringify(second)}`);
    assert.equal(second[0]!.load, 0.8, `load ${second[0]!.load}`);
    assert.ok(second[0]!.at > first[0]!.at && second[0]!.at <= 16_000, `in order, got at ${second[0]!.at}`);
    await readings.close();
  });
});
