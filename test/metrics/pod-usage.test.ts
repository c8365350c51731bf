// podUsageReading turns pods' usage (metrics-server) into the `cpu`/`memory` reading as the HPA
// computes a Resource metric: utilization = Σ usage / Σ requests of the ready pods with metrics;
// ready pods without metrics are missing, starting ones unready, and a pod without a request makes
// utilization undefined (an error, never a 0).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cpuSampleUnready,
  NOT_READ_YET,
  PodUsagePoller,
  podUsageReading,
  pollDelay,
} from '../../src/metrics/pod-usage.js';
import type { Instance, PodUsage } from '../../src/providers/index.js';

const MIB = 1024 * 1024;

function pod(id: string, state: Instance['state'] = 'ready'): Instance {
  return { id, group: 'web', address: `10.0.0.1:80`, state, startedAt: 0 };
}

function usages(...list: PodUsage[]): Map<string, PodUsage> {
  return new Map(list.map((u) => [u.id, u]));
}

const cpu50 = { type: 'cpu', target: 50 } as const;

describe('podUsageReading', () => {
  it('cpu utilization is Σ usage / Σ requests; missing and unready pods are counted apart', () => {
    const reading = podUsageReading(
      [pod('a'), pod('b'), pod('c'), pod('d', 'starting')],
      usages(
        { id: 'a', cpu: 0.3, memory: MIB, requests: { cpu: 0.2 } },
        // A pod of the new size during a resize: 0.3 of 0.4.
        { id: 'b', cpu: 0.3, memory: MIB, requests: { cpu: 0.4 } },
      ),
      cpu50,
    );
    assert.equal(reading.missing, 1, 'c has no PodMetrics: missing, not 0');
    assert.equal(reading.unready, 1, 'd is starting');
    const mean = reading.values.reduce((s, v) => s + v, 0) / reading.values.length;
    assert.equal(Math.round(mean), 100, '0.6 of 0.6 cores requested: 100 %');
    assert.equal(reading.ceiling, undefined, 'usage runs past requests: no ceiling');
  });

  it('a measured pod without a cpu request makes the metric an error, as the HPA reports it', () => {
    const reading = podUsageReading(
      [pod('a')],
      usages({
        id: 'a',
        cpu: 0.1,
        requests: {},
        missingRequest: { cpu: 'missing request for cpu in container app of Pod a' },
      }),
      cpu50,
    );
    assert.deepEqual(reading.values, [], 'no values');
    assert.match(reading.error ?? '', /missing request for cpu in container app of Pod a/);
  });

  it('a pod not measured yet without a cpu request fails the metric too (the HPA checks every listed pod)', () => {
    const reading = podUsageReading(
      [pod('a'), pod('b')],
      usages(
        { id: 'a', cpu: 0.1, requests: { cpu: 0.2 } },
        {
          id: 'b',
          requests: {},
          missingRequest: { cpu: 'missing request for cpu in container proxy of Pod b' },
        },
      ),
      cpu50,
    );
    assert.deepEqual(reading.values, [], `no values: ${JSON.stringify(reading)}`);
    assert.match(reading.error ?? 'no error', /missing request for cpu in container proxy of Pod b/);
  });

  it('memory AverageValue is bytes per pod; Utilization a percent of the memory request', () => {
    const list = usages({ id: 'a', cpu: 0.1, memory: 96 * MIB, requests: { memory: 128 * MIB } });
    const average = podUsageReading([pod('a')], list, {
      type: 'memory',
      target: 32 * MIB,
      targetType: 'AverageValue',
    });
    assert.deepEqual([average.kind, average.unit, average.values], ['average', 'bytes', [96 * MIB]]);
    const utilization = podUsageReading([pod('a')], list, {
      type: 'memory',
      target: 80,
      targetType: 'Utilization',
    });
    assert.deepEqual([utilization.kind, utilization.values], ['utilization', [75]]);
  });
});

describe('cpuSampleUnready: the HPA’s groupPods for CPU (5-min initialization, 30-s readiness delay)', () => {
  const MIN = 60_000;
  const now = 100 * MIN;
  /** A sample taken `sampledAgo` ms before now (15-s window) of a pod started `startedAgo` ago. */
  function sample(
    startedAgo: number | undefined,
    ready: { status: string; sinceAgo?: number } | undefined,
    sampledAgo = 0,
  ): PodUsage {
    return {
      id: 'a',
      cpu: 0.1,
      requests: { cpu: 0.2 },
      sampledAt: now - sampledAgo,
      windowMs: 15_000,
      pod: {
        phase: 'Running',
        ...(startedAgo !== undefined && { startedAt: now - startedAgo }),
        ...(ready && {
          ready: {
            status: ready.status,
            ...(ready.sinceAgo !== undefined && { since: now - ready.sinceAgo }),
          },
        }),
      },
    };
  }
  const cases: [string, PodUsage, boolean][] = [
    ['no start time', sample(undefined, { status: 'True', sinceAgo: MIN }), true],
    ['no Ready condition', sample(10 * MIN, undefined), true],
    ['new, Ready 14.999 s before the sample', sample(MIN, { status: 'True', sinceAgo: 14_999 }), true],
    ['new, Ready 15 s before the sample', sample(MIN, { status: 'True', sinceAgo: 15_000 }), false],
    ['new, not Ready', sample(MIN, { status: 'False', sinceAgo: 50_000 }), true],
    ['past 5 min, Ready', sample(5 * MIN + 1, { status: 'True', sinceAgo: 1 }), false],
    [
      'past 5 min, unready now after being Ready (load)',
      sample(10 * MIN, { status: 'False', sinceAgo: MIN }),
      false,
    ],
    [
      'past 5 min, never Ready since 30 s after start',
      sample(10 * MIN, { status: 'False', sinceAgo: 10 * MIN - 29_999 }),
      true,
    ],
    [
      'past 5 min, not Ready since 30 s after start',
      sample(10 * MIN, { status: 'False', sinceAgo: 10 * MIN - 30_000 }),
      false,
    ],
    ['not from Kubernetes (no pod facts)', { id: 'a', cpu: 0.1, requests: { cpu: 0.2 } }, false],
  ];
  for (const [name, usage, unready] of cases) {
    it(`${name}: ${unready ? 'unready' : 'counted'}`, () => {
      assert.equal(cpuSampleUnready(usage, now), unready, JSON.stringify(usage));
    });
  }

  it('a Running pod not Ready: missing without a measurement; with one, its memory counts (the HPA’s groupPods)', () => {
    const running = (id: string, usage?: { cpu: number; memory: number }): PodUsage => ({
      id,
      ...usage,
      requests: { cpu: 0.2, memory: 64 * MIB },
      pod: { phase: 'Running', startedAt: 0, ready: { status: 'False', since: 0 } },
    });
    const list = usages(running('a', { cpu: 0.1, memory: 32 * MIB }), running('b'), {
      id: 'c',
      requests: { cpu: 0.2, memory: 64 * MIB },
      pod: { phase: 'Pending' },
    });
    const instances = [pod('a', 'starting'), pod('b', 'starting'), pod('c', 'starting')];
    const memory = podUsageReading(instances, list, {
      type: 'memory',
      target: 80,
      targetType: 'Utilization',
    });
    assert.deepEqual(
      [memory.values, memory.missing, memory.unready],
      [[50], 1, 1],
      `a counts, b missing, c (Pending) unready: ${JSON.stringify(memory)}`,
    );
  });
});

describe('PodUsagePoller', () => {
  it('is missing before the first read and after a failed one, never 0; stale after three periods', async () => {
    let calls = 0;
    let fail = false;
    const poller = new PodUsagePoller({
      readPodUsage: async () => {
        calls++;
        if (fail) throw new Error('no metrics-server');
        return [{ id: 'a', cpu: 0.1, requests: { cpu: 0.2 }, sampledAt: calls, windowMs: 15_000 }];
      },
      interval: 1000,
      maxAgeMs: 3000,
    });
    assert.equal(poller.read([pod('a')], cpu50, 0).error, NOT_READ_YET, 'not read yet');
    await poller.poll(0);
    assert.equal(poller.poll(500), undefined, 'no second read within the interval');
    assert.deepEqual(poller.read([pod('a')], cpu50, 500).values, [50], '0.1 of 0.2');
    assert.deepEqual(poller.read([pod('a')], cpu50, 45_000).values, [50], 'not stale before 3 × 15 s');
    assert.match(poller.read([pod('a')], cpu50, 45_001).error ?? '', /^stale/, 'stale after 3 × 15 s');
    fail = true;
    await poller.poll(15_000);
    assert.equal(poller.read([pod('a')], cpu50, 15_000).error, 'no metrics-server', 'failure is missing');
    assert.equal(calls, 2, 'two reads');
  });

  it('reads when metrics-server’s next sample can be there: a window after a new one, a third of it after a repeat', async () => {
    // metrics-server scrapes every 15 s; the scrape due at 32 s failed (a kubelet slow to answer).
    const scrapes = [-13_000, 2_000, 17_000, 47_000, 62_000, 77_000];
    const reads: number[] = [];
    let clock = 0;
    const poller = new PodUsagePoller({
      readPodUsage: async () => {
        reads.push(clock);
        const sampledAt = scrapes.filter((at) => at <= clock).at(-1)!;
        return [{ id: 'a', cpu: 0.1, requests: { cpu: 0.2 }, sampledAt, windowMs: 15_000 }];
      },
      interval: 1000,
      maxAgeMs: 3000,
    });
    for (; clock <= 80_000; clock += 1000) await poller.poll(clock);
    assert.deepEqual(
      reads,
      [0, 15_000, 30_000, 45_000, 50_000, 65_000, 80_000],
      `7 reads in 80 s (a read per second before): ${reads.join(', ')}`,
    );
  });

  it('the period is the samples’ window (--metric-resolution), within [interval, 60 s]; 15 s when none says', () => {
    const sample = (windowMs?: number): PodUsage[] => [
      { id: 'a', requests: {}, sampledAt: 1, ...(windowMs !== undefined && { windowMs }) },
    ];
    assert.deepEqual(
      [sample(60_000), sample(120_000), sample(500), sample(), []].map((u) => pollDelay(u, undefined, 1000)),
      [60_000, 60_000, 1000, 15_000, 15_000],
    );
  });

  it('after failures: the interval, doubled per failure, up to 15 s (no LIST per second without metrics-server)', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((failures) => pollDelay({ failures }, undefined, 1000)),
      [1000, 2000, 4000, 8000, 15_000, 15_000],
    );
  });
});
