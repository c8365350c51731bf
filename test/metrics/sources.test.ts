import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import {
  InflightSource,
  LatencySource,
  type MetricSource,
  MetricSourceError,
  PolledMetric,
  RpsSource,
} from '../../src/metrics/index.js';
import { decide, livePolicy } from '../../src/policy/index.js';
import type { Instance } from '../../src/providers/index.js';

const ready = (id: string): Instance => ({ id, group: 'web', address: '', state: 'ready', startedAt: 0 });
const ctx = (now: number, instances: Instance[] = [ready('a')]) => ({ group: 'web', instances, now });

function scripted(results: (number[] | Error)[]): MetricSource & { closed: number } {
  return {
    name: 'scripted',
    kind: 'total',
    closed: 0,
    async read() {
      const next = results.shift() ?? new Error('script ended');
      if (next instanceof Error) throw next;
      return next;
    },
    async close() {
      this.closed++;
    },
  };
}

describe('PolledMetric', () => {
  it('serves the last value, reports a failure once per streak as a missing metric, and recovers', async () => {
    let now = 0;
    const errors: (string | undefined)[] = [];
    const source = scripted([[7], new Error('boom'), new Error('boom'), [3]]);
    const polled = new PolledMetric({
      source,
      target: 5,
      group: 'web',
      instances: () => [],
      now: () => now,
      onError: (err) => errors.push(err?.message),
    });
    assert.ok(polled.observe(0).error, 'not read yet is missing, not 0');
    await polled.poll();
    assert.deepEqual(polled.observe(0), { name: 'scripted', target: 5, kind: 'total', values: [7] });
    now = 1000;
    await polled.poll();
    await polled.poll();
    const failed = polled.observe(1000);
    assert.deepEqual([failed.values, typeof failed.error], [[], 'string']);
    await polled.poll();
    assert.deepEqual(polled.observe(1000).values, [3]);
    assert.deepEqual(errors, ['boom', undefined]);
    await polled.close();
    await polled.close();
    assert.equal(source.closed, 1);
  });

  it('no value yet (a rate before its second read) is missing but reported as no failure', async () => {
    const errors: (string | undefined)[] = [];
    const balancer = { inFlight: 0, requests: 10 };
    let now = 0;
    const polled = new PolledMetric({
      source: new RpsSource({ stats: () => balancer }),
      target: 5,
      group: 'web',
      instances: () => [],
      now: () => now,
      onError: (err) => errors.push(err?.message),
    });
    await polled.poll();
    assert.match(polled.observe(now).error ?? '', /two reads/, 'missing, never 0');
    balancer.requests = 40;
    now = 1000;
    await polled.poll();
    assert.deepEqual(polled.observe(now).values, [30]);
    assert.deepEqual(errors, [], 'the first read is no failure: nothing to warn or alert about');
  });

  it('a value older than maxAge is stale, hence missing', async () => {
    let now = 0;
    const polled = new PolledMetric({
      source: scripted([[1]]),
      target: 1,
      group: 'web',
      instances: () => [],
      now: () => now,
      maxAge: 5000,
    });
    await polled.poll();
    now = 5000;
    assert.deepEqual(polled.observe(now).values, [1]);
    now = 5001;
    assert.match(polled.observe(now).error ?? '', /stale/);
  });

  it('a failing source never scales the group down: the policy holds the count', async () => {
    const polled = new PolledMetric({
      source: scripted([new MetricSourceError('SOURCE_FAILED', 'connection refused')]),
      target: 10,
      group: 'web',
      instances: () => [],
    });
    await polled.poll();
    const policy = livePolicy('web', 1, 10, {
      tolerance: 0.1,
      scaleUpStabilization: 0,
      scaleDownStabilization: 0,
    });
    const decision = decide(
      { current: 6, ready: 6, metrics: [polled.observe(Date.now())] },
      policy,
      {
        recommendations: [],
        scaleUpEvents: [],
        scaleDownEvents: [],
        recent: [],
      },
      Date.now(),
    );
    assert.equal(decision.desired, 6);
    assert.ok(decision.reasons.includes('NoMetrics'), `reasons ${decision.reasons}`);
  });
});

describe('balancer sources', () => {
  const balancer = { inFlight: 0, requests: 0 };
  const view = { stats: () => balancer };

  it('inflight is the group total', async () => {
    balancer.inFlight = 12;
    assert.deepEqual(await new InflightSource(view).read(ctx(0)), [12]);
  });

  it('rps is the request delta over the time between reads', async () => {
    const rps = new RpsSource(view);
    balancer.requests = 100;
    await assert.rejects(rps.read(ctx(0)), MetricSourceError);
    balancer.requests = 400;
    assert.deepEqual(await rps.read(ctx(2000)), [150]);
  });

  it('rps: a request count that went down (a data-path worker replaced) is no value, not 0 req/s', async () => {
    // ClusterWorkers.stats sums the live workers' counts: one dying takes its count out of the sum.
    const rps = new RpsSource(view);
    balancer.requests = 10_000;
    await assert.rejects(rps.read(ctx(0)), MetricSourceError);
    balancer.requests = 12_000;
    assert.deepEqual(await rps.read(ctx(1000)), [2000]);
    balancer.requests = 7_000; // a worker that had served 6 000 died; 1 000 served since
    await assert.rejects(rps.read(ctx(2000)), (err: MetricSourceError) => err.code === 'SOURCE_NOT_READ');
    balancer.requests = 9_000;
    assert.deepEqual(await rps.read(ctx(3000)), [2000], 'measured again from the lower count');
  });

  it('latency: counts that went down (a data-path worker left out of a read) keep the baseline once', async () => {
    // The histogram as the registry sums it over the data-path workers, scripted read by read.
    let counts: Record<string, number> = {};
    const registry = {
      getSingleMetric: () => ({
        get: async () => ({
          values: Object.entries(counts).map(([le, value]) => ({
            metricName: 'scaleplane_request_duration_seconds_bucket',
            labels: { group: 'web', le },
            value,
          })),
        }),
      }),
    } as unknown as Registry;
    const latency = new LatencySource(registry, 95);
    const read = (c: Record<string, number>, now: number) => {
      counts = c;
      return latency.read(ctx(now));
    };
    const wentDown = (err: MetricSourceError) =>
      err.code === 'SOURCE_NOT_READ' && /went down/.test(err.message);
    // Two workers, 1000 fast requests each.
    await assert.rejects(read({ '0.01': 2000, '0.5': 2000, '+Inf': 2000 }, 0), /two reads/);
    // One worker paused through this read: its 1000 are left out of the sum.
    await assert.rejects(read({ '0.01': 1000, '0.5': 1000, '+Inf': 1000 }, 1000), MetricSourceError);
    // Back, and 20 requests of 300 ms since: the p95 is theirs (before: 10 ms, its 1000 counted again).
    assert.deepEqual(await read({ '0.01': 2000, '0.5': 2020, '+Inf': 2020 }, 2000), [500]);
    // A worker gone with requests it never reported: down twice in a row is a reset.
    await assert.rejects(read({ '0.01': 1900, '0.5': 1920, '+Inf': 1920 }, 3000), wentDown);
    await assert.rejects(read({ '0.01': 1900, '0.5': 1925, '+Inf': 1925 }, 4000), wentDown);
    assert.deepEqual(await read({ '0.01': 1900, '0.5': 1935, '+Inf': 1935 }, 5000), [500]);
  });

  it('latency of an idle group (no request came, none in flight) is 0, so it scales in; requests not completing are no value', async () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'scaleplane_request_duration_seconds',
      help: 'h',
      labelNames: ['group'],
      buckets: [0.01, 0.1, 0.5],
      registers: [registry],
    });
    const balancer = { inFlight: 0, requests: 0 };
    const latency = new LatencySource(registry, 95, undefined, { stats: () => balancer });
    const ten = Array.from({ length: 10 }, (_, i) => ready(`i${i}`));
    await assert.rejects(latency.read(ctx(0, ten)), /two reads/);
    for (let i = 0; i < 20; i++) histogram.observe({ group: 'web' }, 0.3);
    balancer.requests = 20;
    assert.deepEqual(await latency.read(ctx(1000, ten)), Array(10).fill(500), 'busy: 500 ms');
    // Traffic stopped: nothing came, nothing in flight.
    const idle = await latency.read(ctx(2000, ten));
    assert.deepEqual(idle, Array(10).fill(0), 'idle: 0, not missing');
    const policy = livePolicy('web', 1, 10, {
      tolerance: 0.1,
      scaleUpStabilization: 0,
      scaleDownStabilization: 0,
    });
    const decision = decide(
      { current: 10, ready: 10, metrics: [{ name: 'latency', target: 200, kind: 'average', values: idle }] },
      policy,
      { recommendations: [], scaleUpEvents: [], scaleDownEvents: [], recent: [] },
      2000,
    );
    assert.equal(
      decision.desired,
      1,
      `an idle group scales in to min_instances (reasons ${decision.reasons})`,
    );
    // Requests that came and hang (backends stuck): no completion, no value, never 0.
    balancer.requests = 25;
    balancer.inFlight = 5;
    await assert.rejects(latency.read(ctx(3000, ten)), /no requests completed/);
    // Still stuck with no new request: in flight, so still no value.
    await assert.rejects(latency.read(ctx(4000, ten)), /no requests completed/);
  });

  it('latency is the percentile bucket of the requests since the last read, once per ready instance', async () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'scaleplane_request_duration_seconds',
      help: 'h',
      labelNames: ['group'],
      buckets: [0.01, 0.05, 0.1, 0.5],
      registers: [registry],
    });
    const latency = new LatencySource(registry, 90);
    histogram.observe({ group: 'web' }, 0.4); // before the first read: not counted
    await assert.rejects(latency.read(ctx(0)), MetricSourceError);
    for (let i = 0; i < 8; i++) histogram.observe({ group: 'web' }, 0.005);
    histogram.observe({ group: 'web' }, 0.07);
    histogram.observe({ group: 'web' }, 0.3);
    histogram.observe({ group: 'other' }, 5);
    assert.deepEqual(await latency.read(ctx(1000, [ready('a'), ready('b')])), [100, 100]);
    await assert.rejects(latency.read(ctx(2000)), /no requests/, 'no balancer: idle is not known');
  });
});
