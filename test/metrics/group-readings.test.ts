import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { GroupReadings } from '../../src/metrics/group-readings.js';
import type { MetricSource } from '../../src/metrics/index.js';
import { isMissingMetric } from '../../src/metrics/missing-metric.js';
import type { Instance } from '../../src/providers/types.js';

function instance(id: string, pid: number): Instance {
  return { id, group: 'web', address: `127.0.0.1:${pid}`, state: 'ready', pid, startedAt: 0 };
}

function readingsOf(yaml: string, percents: Map<number, number>, instances: Instance[]): GroupReadings {
  const group = parseConfig(yaml, { baseDir: '/srv/app' }).groups.web!;
  return new GroupReadings({
    group,
    instances: () => instances,
    sampleCpu: () => percents,
    sampleMemory: () => new Map(),
    memoryMaxAge: 10_000,
    createSource: (): MetricSource => {
      throw new Error('no polled source in these tests');
    },
    interval: 1000,
    onSourceError: () => {},
  });
}

const CPU_50 = `
groups:
  web:
    command: node app.js
    max_instances: 4
    scaling:
      metric_window: 30s
      metrics:
        - cpu: { target: 50 }
`;

describe('GroupReadings load samples', () => {
  it('leaves one sample per tick: the load over that tick alone, dated at its start', () => {
    const percents = new Map([
      [101, 20],
      [102, 20],
    ]);
    const readings = readingsOf(CPU_50, percents, [instance('web-1', 101), instance('web-2', 102)]);
    readings.sample(0); // baselines only
    readings.sample(1_000);
    percents.set(101, 80).set(102, 60);
    readings.sample(2_000);
    const samples = readings.takeSamples();
    // Σ cpu / target per tick: 40/50 then 140/50, not the 30-s window's average of both.
    assert.deepEqual(samples, [
      { at: 0, load: 0.8, saturated: false },
      { at: 1_000, load: 2.8, saturated: false },
    ]);
    // The decision's reading still averages the window.
    const [cpu] = readings.read([instance('web-1', 101), instance('web-2', 102)], 2_000);
    assert.deepEqual(cpu?.values, [50, 40]);
    assert.deepEqual(readings.takeSamples(), [], 'taken samples are not given twice');
  });

  it('marks a tick with CPU at its ceiling as saturated (demand only bounded from below)', () => {
    const percents = new Map([[101, 100]]);
    const readings = readingsOf(CPU_50, percents, [instance('web-1', 101)]);
    readings.sample(0);
    readings.sample(1_000);
    assert.deepEqual(readings.takeSamples(), [{ at: 0, load: 2, saturated: true }]);
  });

  it('keeps at most 900 samples when no decision takes them', () => {
    const percents = new Map([[101, 10]]);
    const readings = readingsOf(CPU_50, percents, [instance('web-1', 101)]);
    for (let t = 0; t <= 1_000; t++) readings.sample(t * 1000);
    const samples = readings.takeSamples();
    assert.equal(samples.length, 900);
    assert.equal(samples.at(-1)?.at, 999_000, 'the newest are kept');
  });

  it('hands its pending samples to the readings that replace it on a reload', () => {
    const percents = new Map([[101, 25]]);
    const instances = [instance('web-1', 101)];
    const before = readingsOf(CPU_50, percents, instances);
    before.sample(0);
    before.sample(1_000);
    const group = parseConfig(CPU_50.replace('target: 50', 'target: 25'), { baseDir: '/srv/app' }).groups
      .web!;
    const after = new GroupReadings(
      {
        group,
        instances: () => instances,
        sampleCpu: () => percents,
        sampleMemory: () => new Map(),
        memoryMaxAge: 10_000,
        createSource: () => {
          throw new Error('unused');
        },
        interval: 1000,
        onSourceError: () => {},
      },
      before,
    );
    after.sample(2_000);
    assert.deepEqual(
      after.takeSamples().map((s) => s.load),
      [0.5, 1],
      'the old tick at the old target, the new one at the new target',
    );
  });
});

describe('GroupReadings: a tick with a metric missing leaves no sample', () => {
  const MiB = 1024 * 1024;
  // CPU at 10 % of a 50 % target (load 0.4) and memory at 150 Mi of 100 Mi per instance (load 3).
  const CPU_AND_MEMORY = `
groups:
  web:
    command: node app.js
    max_instances: 4
    scaling:
      metrics:
        - cpu: { target: 50 }
        - memory: { average_value: 100Mi }
`;

  it('skips the tick whose memory samples are stale rather than sampling CPU alone', () => {
    const instances = [instance('web-1', 101), instance('web-2', 102)];
    const cpu = new Map([
      [101, 10],
      [102, 10],
    ]);
    const memory = new Map([
      [101, 150 * MiB],
      [102, 150 * MiB],
    ]);
    let memoryAnswers = true;
    const readings = new GroupReadings({
      group: parseConfig(CPU_AND_MEMORY, { baseDir: '/srv/app' }).groups.web!,
      instances: () => instances,
      sampleCpu: () => cpu,
      sampleMemory: () => (memoryAnswers ? memory : new Map()),
      // A memory sample one tick old is stale: the tick after a failed read has no memory.
      memoryMaxAge: 1_000,
      createSource: () => {
        throw new Error('unused');
      },
      interval: 1000,
      onSourceError: () => {},
    });
    readings.sample(0);
    readings.sample(1_000);
    memoryAnswers = false;
    readings.sample(2_000);
    memoryAnswers = true;
    readings.sample(3_000);
    // Sampled from CPU alone the tick [1 s, 2 s) said 0.4 instances where the load was 3.
    assert.deepEqual(readings.takeSamples(), [
      { at: 0, load: 3, saturated: false },
      { at: 2_000, load: 3, saturated: false },
    ]);
  });
});

describe('isMissingMetric', () => {
  it('is a failed or stale source, or every ready instance without a sample; not zero instances', () => {
    const cpu = { name: 'cpu', target: 50 };
    assert.equal(isMissingMetric({ ...cpu, values: [], error: 'stale: no value for 10000 ms' }), true);
    assert.equal(isMissingMetric({ ...cpu, values: [], missing: 2 }), true);
    assert.equal(isMissingMetric({ ...cpu, values: [], missing: 0 }), false, 'no ready instance: no load');
    assert.equal(isMissingMetric({ ...cpu, values: [40], missing: 1 }), false, "HPA's missing pod");
  });
});
