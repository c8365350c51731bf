// Acceptance 2 of the policy issue: a real Prometheus (Debian package, scripts/services/prometheus.sh)
// scrapes Scaleplane's own /metrics, and a group scales on a PromQL query. The test runs its own
// unprivileged prometheus from a generated config in a temp folder, on a spare port.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { type MetricSourceError, PrometheusSource } from '../../src/metrics/index.js';
import { startLoad } from '../helpers/load.js';
import { freePort } from '../helpers/ports.js';
import { PROMETHEUS, poll, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';
import { INTEGRATION_TOKEN, nextEntry, startInProcess } from '../helpers/scaleplane.js';

// Requests that wait without burning CPU (/slow?ms=N): in flight at the balancer, while the
// instance still answers its health checks at once (a CPU-bound handler would queue them behind
// the work, fail them past their 1 s timeout and take the only instance out of rotation).
const FIXTURES = resolve(import.meta.dirname, '../fixtures');

describe('scaling on a PromQL query', {
  skip: PROMETHEUS ? false : 'run scripts/services/prometheus.sh',
}, () => {
  let app: Scaleplane | undefined;
  let prometheus: RunningPrometheus | undefined;
  after(async () => {
    await app?.close();
    await prometheus?.close();
  });

  it('Prometheus scrapes Scaleplane and the group follows the query; no value is no scale-down', async () => {
    const promPort = await freePort();
    // Requests in flight through the balancer, as Prometheus scraped them; target 2 per instance.
    app = await startInProcess(
      `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 500ms }
controller: { interval: 1s }
groups:
  web:
    command: node provider-app.mjs
    min_instances: 1
    max_instances: 3
    scaling:
      metrics:
        - prometheus:
            url: http://127.0.0.1:${promPort}
            query: sum(scaleplane_inflight_requests{group="web"})
            target: 2
      behavior:
        scale_down: { stabilization_window: 0s }
`,
      FIXTURES,
    );
    const group = app.controller.group('web');
    // Prometheus is not up yet: the source fails, the metric is missing, nothing changes; and the
    // failure is an alert, resolved once the source answers again (checked below). Awaited, not
    // assumed after a fixed time: a slow machine takes longer to reach its first decisions.
    await poll(
      async () =>
        (group.lastDecision?.reasons.includes('NoMetrics') ?? false) &&
        app!.alerts.isFiring('metric-source:web:prometheus'),
      20_000,
      'a NoMetrics decision with the metric-source alert firing',
    );
    assert.equal(group.desired(), 1);

    const api = app.apiAddress!;
    prometheus = await startPrometheus(
      [
        '  - job_name: scaleplane',
        // /metrics wants a token (api.public_metrics is off by default).
        '    authorization: { credentials_file: scaleplane.token }',
        `    static_configs: [ { targets: ["${api.host}:${api.port}"] } ]`,
      ],
      {
        port: promPort,
        args: ['--query.lookback-delta=5s'],
        files: { 'scaleplane.token': `${INTEGRATION_TOKEN}\n` },
      },
    );
    await poll(
      async () => (await prometheus!.query('up{job="scaleplane"}'))[0]?.value[1] === '1',
      30_000,
      'prometheus scraping scaleplane',
    );

    const { host, port } = app.balancerAddress!;
    const load = startLoad({
      url: `http://${host}:${port}/slow?ms=300`,
      concurrency: 6,
      maxDurationMs: 40_000,
    });
    try {
      const out = await nextEntry(app, (e) => e.source === 'policy' && e.after > e.before, 30_000).catch(
        (err: Error) => {
          // Say what the policy saw and what the clients got, not only that nothing happened.
          throw new Error(
            `${err.message}; last decision: ${group.lastDecision?.message}; load so far: ${JSON.stringify(load.result)}`,
          );
        },
      );
      assert.equal(out.reasons[0], 'AboveTarget');
      const metric = (out.inputs.metrics as { name: string; average: number; target: number }[])[0]!;
      assert.deepEqual([metric.name, metric.target], ['prometheus', 2]);
      assert.ok(metric.average > 2 * 1.1, `scaled out on in-flight ${metric.average}`);
      assert.equal(app.alerts.isFiring('metric-source:web:prometheus'), false, 'resolved once it answers');
    } finally {
      const result = await load.stop();
      assert.equal(result.errors, 0);
    }
    // Idle: the query drops to 0 and the group comes back in.
    const back = await nextEntry(app, (e) => e.source === 'policy' && e.after === 1, 30_000);
    assert.ok(back.reasons.includes('BelowTarget'), `reasons: ${back.reasons}`);
  });
  it('a Prometheus served under a path (--web.route-prefix, a proxy path) is queried under it', async () => {
    const prefixed = await startPrometheus([], { routePrefix: '/prom' });
    try {
      // Before: the path was dropped and the query went to /api/v1/query, a 404 here.
      for (const url of [prefixed.url, `${prefixed.url}/`]) {
        const source = new PrometheusSource({ url, query: 'vector(3)' });
        assert.deepEqual(await source.read(), [3], url);
      }
    } finally {
      await prefixed.close();
    }
  });
  it('an answer with warnings (a remote read that failed) is missing, unless on_warnings is use', async () => {
    // A remote_read endpoint that refuses connections: Prometheus still answers `success`, with
    // the local part only and a `warnings` entry. `or vector(4)` makes the answer a plain 4.
    const refused = await freePort();
    const partial = await startPrometheus([], {
      config: ['remote_read:', `  - url: http://127.0.0.1:${refused}/read`, '    read_recent: true'],
    });
    try {
      const query = 'sum(up) or vector(4)';
      const strict = new PrometheusSource({ url: partial.url, query });
      await assert.rejects(strict.read(), (err: Error) => {
        assert.match(
          err.message,
          /answered with warnings \(the data may be partial\): remote_read: .*refused/,
        );
        assert.equal((err as MetricSourceError).code, 'SOURCE_BAD_RESPONSE');
        return true;
      });
      const lenient = new PrometheusSource({ url: partial.url, query, onWarnings: 'use' });
      assert.deepEqual(await lenient.read(), [4]);
    } finally {
      await partial.close();
    }
  });
});
