import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { monotonicNow } from '../../src/clock.js';
import { bucketDelta, histogramQuantile, LiveSampler, toSample } from '../../src/dashboard/index.js';
import { createMetrics } from '../../src/metrics/index.js';

const INF = Number.POSITIVE_INFINITY;

describe('histogramQuantile (as Prometheus histogram_quantile)', () => {
  const cases: { name: string; q: number; buckets: [number, number][]; want: number | null }[] = [
    {
      name: 'no observations',
      q: 0.5,
      buckets: [
        [0.1, 0],
        [INF, 0],
      ],
      want: null,
    },
    {
      name: 'interpolates inside the first bucket from 0',
      q: 0.5,
      buckets: [
        [0.1, 10],
        [INF, 10],
      ],
      want: 0.05,
    },
    {
      name: 'interpolates inside a later bucket',
      q: 0.75,
      buckets: [
        [0.1, 50],
        [0.2, 100],
        [INF, 100],
      ],
      want: 0.15,
    },
    {
      name: 'rank exactly at a bucket bound',
      q: 0.5,
      buckets: [
        [0.1, 50],
        [0.2, 100],
        [INF, 100],
      ],
      want: 0.1,
    },
    {
      name: 'rank in +Inf gives the last finite bound',
      q: 0.99,
      buckets: [
        [0.1, 50],
        [INF, 100],
      ],
      want: 0.1,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = histogramQuantile(
        c.q,
        c.buckets.map(([le, count]) => ({ le, count })),
      );
      if (c.want === null) assert.equal(got, null);
      else assert.ok(Math.abs(got! - c.want) < 1e-9, `${got} ≠ ${c.want}`);
    });
  }

  it('bucketDelta subtracts an earlier snapshot', () => {
    assert.deepEqual(
      bucketDelta(
        [
          { le: 1, count: 5 },
          { le: INF, count: 9 },
        ],
        [
          { le: 1, count: 2 },
          { le: INF, count: 3 },
        ],
      ),
      [
        { le: 1, count: 3 },
        { le: INF, count: 6 },
      ],
    );
  });
});

describe('LiveSampler', () => {
  it('turns counters into rates and buckets into interval percentiles', () => {
    const before = {
      t: 0,
      total: 100,
      failed: 1,
      buckets: [
        { le: 0.01, count: 100 },
        { le: INF, count: 100 },
      ],
    };
    const now = {
      t: 2000,
      total: 300,
      failed: 11,
      buckets: [
        { le: 0.01, count: 300 },
        { le: INF, count: 300 },
      ],
    };
    const sample = toSample(now, before, { desired: 3, ready: 2 }, { cpu: 55, inFlight: 4 });
    assert.deepEqual(sample, {
      t: 2000,
      cpu: 55,
      inFlight: 4,
      desired: 3,
      ready: 2,
      rps: 100,
      errorRate: 5,
      p50: 5,
      p99: 9.9,
    });
    assert.equal(toSample(now, undefined, { desired: 1, ready: 1 }, { cpu: null, inFlight: null }).rps, null);
  });

  it('forgets a group a reload removed: its history is not sent again, and the name starts afresh', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const summary = (name: string) => ({
      name,
      provider: 'memory',
      desired: 1,
      ready: 1,
      minInstances: 1,
      maxInstances: 2,
      autoscaling: true,
      instances: [],
    });
    let names = ['web', 'batch'];
    let now = 10_000;
    const sampler = new LiveSampler({
      registry: metrics.registry,
      groups: () => names.map(summary),
      now: () => now,
    });
    await sampler.sample();
    now += 1000;
    metrics.requests.inc({ group: 'batch', code: '2xx' }, 50);
    await sampler.sample();
    assert.deepEqual(Object.keys(sampler.history()).sort(), ['batch', 'web']);
    names = ['web']; // a reload removed batch
    now += 1000;
    await sampler.sample();
    assert.deepEqual(Object.keys(sampler.history()), ['web'], 'batch is forgotten');
    names = ['web', 'batch']; // and added again
    now += 1000;
    metrics.requests.inc({ group: 'batch', code: '2xx' }, 50);
    const [again] = [(await sampler.sample()).batch];
    assert.equal(sampler.history().batch?.length, 1, 'a fresh history');
    assert.equal(again?.rps, null, 'no rate across the gap from its old counters');
  });

  it('reads the registry the balancer and controller write, per group, and keeps a bounded history', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let now = 10_000;
    const sampler = new LiveSampler({
      registry: metrics.registry,
      groups: () => [
        {
          name: 'web',
          provider: 'memory',
          desired: 2,
          ready: 2,
          minInstances: 1,
          maxInstances: 4,
          autoscaling: true,
          instances: [],
        },
      ],
      historySize: 2,
      now: () => now,
    });
    await sampler.sample();
    metrics.requests.inc({ group: 'web', code: '2xx' }, 18);
    metrics.requests.inc({ group: 'web', code: '5xx' }, 1);
    metrics.requests.inc({ group: 'web', code: 'error' }, 1);
    for (let i = 0; i < 20; i++) metrics.requestDuration.observe({ group: 'web' }, 0.02);
    metrics.groupCpu.set({ group: 'web' }, 42);
    now += 1000;
    const { web } = await sampler.sample();
    assert.equal(web!.rps, 20);
    assert.equal(web!.errorRate, 10);
    assert.equal(web!.cpu, 42);
    assert.ok(web!.p50! > 10 && web!.p50! <= 25, `p50 ${web!.p50}`);
    now += 1000;
    await sampler.sample();
    assert.equal(sampler.history().web!.length, 2);
    assert.equal(sampler.history().web!.at(-1)!.rps, 0);
  });

  // The step is made by replacing Date.now, as test/controller/clock-step.test.ts does; the decision
  // clock (monotonic time since start) is left alone.
  for (const step of [-10 * 60_000, 60 * 60_000]) {
    it(`a step of the system clock (${step / 60_000} min) moves no sample off the decision clock`, async () => {
      // Date.now is replaced before the sampler is made: a default taken as a function reference
      // sees the step, as it would see a real one.
      const real = Date.now;
      let stepped = 0;
      Date.now = () => real() + stepped;
      let web: Awaited<ReturnType<LiveSampler['sample']>>[string] | undefined;
      try {
        const metrics = createMetrics({ defaultMetrics: false });
        const sampler = new LiveSampler({
          registry: metrics.registry,
          groups: () => [
            {
              name: 'web',
              provider: 'memory',
              desired: 1,
              ready: 1,
              minInstances: 1,
              maxInstances: 2,
              autoscaling: true,
              instances: [],
            },
          ],
        });
        await sampler.sample();
        metrics.requests.inc({ group: 'web', code: '2xx' }, 20);
        // Some monotonic time passes between the two samples, so the second has an interval.
        const since = performance.now();
        while (performance.now() - since < 3) await delay(3);
        stepped = step;
        ({ web } = await sampler.sample());
      } finally {
        Date.now = real;
      }
      const off = web!.t - monotonicNow();
      // A journal entry made now is dated monotonicNow(): its mark on the chart is where this sample is.
      assert.ok(
        Math.abs(off) < 1000,
        `the sample is dated ${off} ms from the decision clock the decision marks are on (a ${step} ms step)`,
      );
      // 20 requests within the few ms between the samples: more than 20 a second, not none
      // (a step back) nor 20 spread over the hour of a step forward.
      assert.ok(
        web!.rps !== null && web!.rps > 20,
        `rate across the step: ${web!.rps} req/s, 20 requests in ms`,
      );
    });
  }
});
