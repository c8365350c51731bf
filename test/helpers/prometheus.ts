import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/** PROMETHEUS is the installed prometheus binary (scripts/services/prometheus.sh), if any. */
export const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));

/** RunningPrometheus is an unprivileged prometheus of one test, on a spare loopback port. */
export interface RunningPrometheus {
  url: string;
  /** query runs an instant query and returns its vector (rejects on anything else). */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** close stops prometheus and removes its folder. Safe to call twice. */
  close(): Promise<void>;
}

/** PrometheusOptions adjust one test's prometheus. */
export interface PrometheusOptions {
  /** Listen here (e.g. a port already written into a Scaleplane config); default: a spare one. */
  port?: number;
  /** Top-level YAML lines after `scrape_configs:`, e.g. a `remote_read:` section. */
  config?: string[];
  /** Extra command-line flags, e.g. `--query.lookback-delta=5s`. */
  args?: string[];
  /** Files written next to prometheus.yml first (paths in the config are relative to it). */
  files?: Record<string, string>;
  /** Serve under this path (`--web.route-prefix`, as behind a proxy path), e.g. `/prom`; `url` includes it. */
  routePrefix?: string;
  /**
   * Require HTTP Basic auth (`--web.config.file` with `basic_auth_users`): `hash` is the bcrypt of
   * `password`, which the helper's own readiness check and `query` send.
   */
  basicAuth?: { username: string; password: string; hash: string };
}

/** PROMETHEUS_DOCS_USER is the user of Prometheus' basic-auth guide: admin / test, bcrypt cost 12. */
export const PROMETHEUS_DOCS_USER = {
  username: 'admin',
  password: 'test',
  hash: '$2b$12$hNf2lSsxfm0.i4a.1kVpSOVyBCfIB51VRjgBUyv6kdnyTlgWj81Ay',
};

/**
 * poll checks `condition` every 100 ms (an HTTP round trip each, so not as often as `until`) until
 * it holds, failing after `timeoutMs` with `what`.
 */
export async function poll(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * startPrometheus runs prometheus from a generated config (`scrapeConfigs`: the YAML items under
 * `scrape_configs:`, scrape and evaluation every second) in a temp folder, and resolves once its
 * API answers.
 */
export async function startPrometheus(
  scrapeConfigs: string[],
  options: PrometheusOptions = {},
): Promise<RunningPrometheus> {
  if (!PROMETHEUS) throw new Error('no prometheus: run scripts/services/prometheus.sh');
  const dir = await mkdtemp(join(tmpdir(), 'scaleplane-prometheus-'));
  const port = options.port ?? (await freePort());
  for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), text);
  const url = `http://127.0.0.1:${port}${options.routePrefix ?? ''}`;
  const auth = options.basicAuth;
  const headers: Record<string, string> = auth
    ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` }
    : {};
  if (auth) {
    await writeFile(join(dir, 'web.yml'), `basic_auth_users:\n  ${auth.username}: '${auth.hash}'\n`);
  }
  await writeFile(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      ...scrapeConfigs,
      ...(options.config ?? []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(options.routePrefix ? [`--web.route-prefix=${options.routePrefix}`] : []),
      ...(auth ? [`--web.config.file=${join(dir, 'web.yml')}`] : []),
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return closed;
  };
  try {
    await poll(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr.slice(-500)}`);
        return (await fetch(`${url}/-/ready`, { headers }).catch(() => undefined))?.ok ?? false;
      },
      30_000,
      'prometheus ready',
    );
  } catch (err) {
    await close();
    throw err;
  }
  return {
    url,
    close,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, { headers });
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success' || body.data.resultType !== 'vector') {
        throw new Error(`${promql}: ${body.error ?? body.data.resultType}`);
      }
      return body.data.result;
    },
  };
}
