import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Summary } from 'prom-client';
import {
  addTotals,
  type MetricsSnapshot,
  mergeSnapshots,
  ScaleplaneRegistry,
} from '../../src/metrics/index.js';

async function snapshot(build: (registry: ScaleplaneRegistry) => void): Promise<MetricsSnapshot> {
  const registry = new ScaleplaneRegistry();
  build(registry);
  return registry.getMetricsAsJSON();
}

describe('mergeSnapshots', () => {
  it('sums counters, applies a gauge aggregator, keeps series only this process has', async () => {
    const series = (registry: ScaleplaneRegistry, requests: number, ejected: number) => {
      new Counter({ name: 'req_total', help: 'h', labelNames: ['g'], registers: [registry] }).inc(
        { g: 'web' },
        requests,
      );
      new Gauge({ name: 'ejected', help: 'h', aggregator: 'max', registers: [registry] }).set(ejected);
    };
    const own = await snapshot((r) => {
      series(r, 1, 0);
      // 'omit' would drop it if it were aggregated on its own.
      new Gauge({ name: 'start_time', help: 'h', aggregator: 'omit', registers: [r] }).set(42);
    });
    const w1 = await snapshot((r) => series(r, 10, 1));
    const w2 = await snapshot((r) => {
      series(r, 5, 0);
      new Counter({ name: 'only_remote_total', help: 'h', registers: [r] }).inc(3);
    });
    const merged = mergeSnapshots(own, [w1, w2]);
    const value = (name: string) => merged.find((m) => m.name === name)?.values[0]?.value;
    assert.deepEqual(
      merged.map((m) => m.name),
      ['req_total', 'ejected', 'start_time', 'only_remote_total'],
    );
    assert.equal(value('req_total'), 16);
    assert.equal(value('ejected'), 1);
    assert.equal(value('start_time'), 42);
    assert.equal(value('only_remote_total'), 3);
  });

  it('no remotes: this process series unchanged', async () => {
    const own = await snapshot((r) => new Counter({ name: 'c_total', help: 'h', registers: [r] }).inc(2));
    assert.equal(mergeSnapshots(own, []), own);
  });
});

describe('addTotals', () => {
  const build = (requests: Record<string, number>, observed: number[]) =>
    snapshot((r) => {
      const counter = new Counter({ name: 'req_total', help: 'h', labelNames: ['code'], registers: [r] });
      for (const [code, n] of Object.entries(requests)) counter.inc({ code }, n);
      const histogram = new Histogram({ name: 'lat_seconds', help: 'h', buckets: [0.1, 1], registers: [r] });
      for (const v of observed) histogram.observe(v);
      new Gauge({ name: 'inflight', help: 'h', registers: [r] }).set(7);
      new Summary({ name: 'q', help: 'h', registers: [r] }).observe(1);
    });

  it('adds counters and histograms series by series, drops gauges and summaries', async () => {
    const first = addTotals([], await build({ '2xx': 3 }, [0.05, 0.5]));
    const both = addTotals(first, await build({ '2xx': 2, '5xx': 1 }, [2]));
    assert.deepEqual(
      both.map((m) => m.name),
      ['req_total', 'lat_seconds'],
    );
    const values = (name: string) =>
      Object.fromEntries(
        both
          .find((m) => m.name === name)!
          .values.map((v) => [
            `${(v as { metricName?: string }).metricName ?? name}${JSON.stringify(v.labels)}`,
            v.value,
          ]),
      );
    assert.deepEqual(values('req_total'), { 'req_total{"code":"2xx"}': 5, 'req_total{"code":"5xx"}': 1 });
    assert.deepEqual(values('lat_seconds'), {
      'lat_seconds_bucket{"le":0.1}': 1,
      'lat_seconds_bucket{"le":1}': 2,
      'lat_seconds_bucket{"le":"+Inf"}': 3,
      'lat_seconds_sum{}': 2.55,
      'lat_seconds_count{}': 3,
    });
    // The first result is not changed by the second addition.
    assert.equal(first.find((m) => m.name === 'req_total')!.values[0]!.value, 3);
  });

  it('retired totals keep a merged counter from going down when a process is replaced', async () => {
    const own = await snapshot(() => {});
    const dead = await build({ '2xx': 10 }, []);
    const replacement = await build({ '2xx': 1 }, []);
    const total = (remotes: MetricsSnapshot[]) =>
      mergeSnapshots(own, remotes).find((m) => m.name === 'req_total')!.values[0]!.value;
    assert.equal(total([dead]), 10);
    assert.equal(total([replacement, addTotals([], dead)]), 11);
  });
});
