// Acceptance 2 of the policy issue: a real Prometheus (Debian package, scripts/services/prometheus.sh)
// scrapes Scaleplane's own /metrics, and a group scales on a PromQL query. The test runs its own
// unprivileged prometheus from a generated config in a temp folder, on a spare port.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { INTEGRATION_TOKEN, nextEntry, startInProcess } from '../helpers/scaleplane.js';

// Requests that wait without burning CPU (/slow?ms=N): in flight at the balancer, while the
// instance still answers its health checks at once (a CPU-bound handler would queue them behind
// the work, fail them past their 1 s timeout and take the only instance out of rotation).
const FIXTURES = resolve(import.meta.dirname, '../fixtures');

const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));

function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

describe('scaling on a PromQL query', {
  skip: PROMETHEUS ? false : 'run scripts/services/prometheus.sh',
}, () => {
  let app: Scaleplane | undefined;
  let prometheus: ChildProcess | undefined;
  let dir: string | undefined;
  after(async () => {
    await app?.close();
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('Prometheus scrapes Scaleplane and the group follows the query; no value is no scale-down', async () => {
    const promPort = await sparePort();
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
    await waitFor(
      async () =>
        (group.lastDecision?.reasons.includes('NoMetrics') ?? false) &&
        app!.alerts.isFiring('metric-source:web:prometheus'),
      20_000,
      'no NoMetrics decision with the metric-source alert firing',
    );
    assert.equal(group.desired(), 1);

    dir = await mkdtemp(join(tmpdir(), 'scaleplane-prometheus-'));
    const api = app.apiAddress!;
    await writeFile(join(dir, 'scaleplane.token'), `${INTEGRATION_TOKEN}\n`);
    await writeFile(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: scaleplane',
        // /metrics wants a token (api.public_metrics is off by default).
        '    authorization: { credentials_file: scaleplane.token }',
        `    static_configs: [ { targets: ["${api.host}:${api.port}"] } ]`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      PROMETHEUS!,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--query.lookback-delta=5s',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    prometheus.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    await waitFor(
      async () => {
        const res = await fetch(
          `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('up{job="scaleplane"}')}`,
        );
        const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
        return body.data.result[0]?.value[1] === '1';
      },
      30_000,
      `prometheus did not scrape scaleplane (stderr: ${stderr.slice(-500)})`,
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
});
