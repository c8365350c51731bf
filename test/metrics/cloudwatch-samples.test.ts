// An AWS group scaled on `cpu` alone (CloudWatch) leaves one load sample per CloudWatch datapoint,
// dated at the datapoint's Timestamp, not one per 1-s tick dated at the tick. Before, each tick left
// the same 60-s datapoint again (published 1–3 minutes after it was measured): 29 copies in 30
// ticks, the panic window averaging a load minutes old as if it were seen that second, and a
// forecast bucket weighing a sample by how long it stayed unchanged. Against AwsServer over HTTP,
// through the real SDK client, as the group reads it (createCpuSource).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monotonicNow } from '../../src/clock.js';
import { parseConfig } from '../../src/config/index.js';
import { GroupReadings } from '../../src/metrics/group-readings.js';
import { createCpuSource } from '../../src/metrics/index.js';
import type { Instance } from '../../src/providers/types.js';
import { AwsServer } from '../providers/aws-server.js';

process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

const MINUTE = 60_000;

const awsCpu = (endpoint: string, extra = '') => `groups:
  web:
    provider: aws
    role: worker
    auto_scaling_group: web-asg
    region: us-east-1
    endpoint: ${endpoint}
    max_instances: 6
    scaling:
      metrics:
        - cpu: { target: 50 }${extra}
`;

const ready = (id: string): Instance => ({ id, group: 'web', address: '', state: 'ready', startedAt: 0 });

function readingsOf(yaml: string): GroupReadings {
  const group = parseConfig(yaml, { baseDir: '/srv/app' }).groups.web!;
  return new GroupReadings({
    group,
    instances: () => [ready('i-1'), ready('i-2')],
    sampleCpu: () => new Map(),
    sampleMemory: () => new Map(),
    memoryMaxAge: 10_000,
    createSource: () => ({ name: 'inflight', kind: 'total', read: async () => [0], close: async () => {} }),
    createCpuSource: () => createCpuSource(group),
    interval: 1000,
    onSourceError: () => {},
  });
}

describe('GroupReadings: CloudWatch cpu load samples', { timeout: 60_000 }, () => {
  it('one sample per datapoint, dated at its Timestamp, however many ticks and polls read it', async (t) => {
    const server = new AwsServer();
    await server.start();
    t.after(() => server.close());
    server.addInstances(2);
    const newestMinute = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
    // Two minutes old at least when read: the usual CloudWatch delay.
    const old = newestMinute - MINUTE;
    server.cpuDatapoints.push({ at: old, average: 80 });
    const readings = readingsOf(awsCpu(server.url));
    t.after(() => readings.close());
    const [polled] = readings.sources;
    assert.ok(polled, 'the cpu is polled from CloudWatch');

    // 30 1-s ticks over one datapoint, read again by a second poll half-way (4 polls a period).
    const start = monotonicNow();
    let tick = 0;
    const ticks = (n: number) => {
      for (let i = 0; i < n; i++) readings.sample(start + 1000 * tick++);
    };
    await polled.poll();
    ticks(15);
    await polled.poll();
    ticks(15);
    const first = readings.takeSamples();
    assert.equal(first.length, 1, `one sample for one datapoint over 30 ticks, got ${first.length}`);
    // 80 % of 2 instances at a 50 % target: 3.2 instances' worth.
    assert.equal(first[0]!.load, 3.2, `load ${first[0]!.load}`);
    const firstTick = start;
    assert.ok(
      firstTick - first[0]!.at >= 2 * MINUTE,
      `dated at its Timestamp, ≥ 120 s before the tick that left it; ${firstTick - first[0]!.at} ms`,
    );

    // The next minute is published: one new sample, later than the first, still in the past.
    server.cpuDatapoints.push({ at: newestMinute, average: 40 });
    await polled.poll();
    ticks(10);
    const second = readings.takeSamples();
    assert.equal(second.length, 1, `one sample for the new datapoint over 10 ticks, got ${second.length}`);
    assert.equal(second[0]!.load, 1.6, `load ${second[0]!.load}`);
    const tickOfSecond = start + 30_000;
    assert.ok(
      second[0]!.at > first[0]!.at && tickOfSecond - second[0]!.at >= MINUTE,
      `in order and dated ≥ 60 s back: first at ${first[0]!.at}, second at ${second[0]!.at}`,
    );
    // Decisions between two datapoints get no sample and must derive none (GroupController).
    assert.equal(readings.samplesComplete, true, 'a group read from CloudWatch alone has complete samples');
  });

  it('cpu beside another metric keeps one sample per tick (not complete)', async (t) => {
    const server = new AwsServer();
    await server.start();
    t.after(() => server.close());
    const readings = readingsOf(awsCpu(server.url, '\n        - inflight: { target: 10 }'));
    t.after(() => readings.close());
    assert.equal(readings.samplesComplete, false, 'a mixed group derives samples per tick');
  });
});
