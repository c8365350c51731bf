import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge } from 'prom-client';
import { type MetricsSnapshot, mergeSnapshots, ScaleplaneRegistry } from '../../src/metrics/index.js';

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
