// PodMetrics were LISTed every second, while metrics-server has a new sample every 15 s (its
// default --metric-resolution, the `window` of its PodMetrics) and the HPA reads them every 15 s
// (--horizontal-pod-autoscaler-sync-period): fifteen LISTs per sample on a real API server, fourteen
// answering the same samples. Now the poller reads again when the next sample can be there: a
// window after a new one, a third of one after a repeat. The fake API server serves PodMetrics
// sampled as the test says; the provider reads them with the official client over real HTTP; the
// poller runs on a clock the test steps (no waiting 15 s).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PodUsagePoller } from '../../src/metrics/pod-usage.js';
import { until } from '../helpers/until.js';
import { podMetricsProvider, podMetricsServer, startOnKube } from './kube-app.js';

const cpu50 = { type: 'cpu', target: 50 } as const;

describe('kubernetes PodMetrics: read when metrics-server has a new sample', () => {
  it('one LIST per 15-s window over 60 s of 1-s ticks (61 before), the reading kept between', async (t) => {
    const server = await podMetricsServer(t, 2, { requests: { cpu: '200m', memory: '64Mi' } });
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().filter((i) => i.state === 'ready').length === 2, 10_000, '2 ready pods');
    server.podUsage = () => ({ cpu: '100m', memory: '32Mi' });
    // metrics-server's scrapes on the poller's clock: every 15 s, 2 s into each window.
    let clock = 0;
    const start = Date.now();
    server.podMetricsTime = () => ({
      timestamp: start + Math.floor((clock - 2_000) / 15_000) * 15_000 + 2_000,
      window: '15s',
    });
    const lists = () => server.requests.filter((r) => r.path.startsWith('/apis/metrics.k8s.io/')).length;
    const poller = new PodUsagePoller({
      readPodUsage: () => p.readPodUsage(),
      interval: 1000,
      maxAgeMs: 3000,
    });
    const at: number[] = [];
    for (; clock <= 60_000; clock += 1000) {
      const before = lists();
      await poller.poll(clock);
      if (lists() > before) at.push(clock);
      const reading = poller.read(p.instances(), cpu50, clock);
      assert.deepEqual(
        reading.values,
        [50, 50],
        `at ${clock} ms the last sample is read: ${JSON.stringify(reading)}`,
      );
    }
    assert.deepEqual(at, [0, 15_000, 30_000, 45_000, 60_000], `LISTs at ${at.join(', ')} ms`);
  });

  it('whole Scaleplane without metrics-server: retried at 1, 2, 4, 8, then every 15 s, not every second', async (t) => {
    const server = await podMetricsServer(t, 2, { requests: { cpu: '200m' } });
    server.metricsApi = 'missing';
    await startOnKube(t, server, 'cpu: { target: 50 }');
    const lists = () =>
      server.requests.flatMap((r, i) =>
        r.path.startsWith('/apis/metrics.k8s.io/') ? [server.arrivals[i]!] : [],
      );
    await until(() => lists().length >= 5, 30_000, 'five reads of PodMetrics');
    const gaps = lists()
      .slice(0, 5)
      .map((at, i, all) => (i === 0 ? 0 : at - all[i - 1]!))
      .slice(1);
    // Each gap its backoff, give or take the 1-s sampling tick and the request's own time (a read
    // per second, as before, has gaps of about 1 s each).
    assert.ok(
      gaps.every((gap, i) => gap >= 0.75 * 1000 * 2 ** i),
      `gaps between reads about 1, 2, 4, 8 s: ${gaps.join(', ')} ms`,
    );
  });
});
