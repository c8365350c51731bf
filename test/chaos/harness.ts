import { resolve } from 'node:path';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { startInProcess } from '../helpers/scaleplane.js';

/** FULL is the long form (`npm run test:chaos`); the short form runs inside `npm test`. */
export const FULL = process.env.CHAOS_FULL === '1';

/**
 * SIZE is how many requests each phase of a fault waits for: before the fault, while it lasts,
 * and after recovery. `concurrency` clients send them back to back.
 */
export const SIZE = FULL
  ? { before: 1000, during: 4000, after: 1000, concurrency: 6 }
  : { before: 150, during: 400, after: 150, concurrency: 4 };

/** FIXTURES holds the backend every fault runs (test/chaos/fixtures/backend.ts). */
export const FIXTURES = resolve(import.meta.dirname, 'fixtures');

/** Check is one bound of a fault: what it says and whether it held. */
export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

/** ChaosRow is one line of the table: a fault, what the clients saw, and its bounds. */
export interface ChaosRow {
  fault: string;
  requests: number;
  failures: number;
  /** ms from the fault (or from its end, see `recoveredWhen`) until normal again; undefined: n/a. */
  recoveryMs: number | undefined;
  /** What "recovered" means for this fault. */
  recoveredWhen: string;
  checks: Check[];
  /** Other figures worth printing (ejection time, share of traffic, …). */
  note: string;
}

/** check builds a Check. */
export function check(what: string, ok: boolean, detail = ''): Check {
  return { what, ok, detail };
}

/** formatTable renders rows as a fixed-width text table (also valid Markdown). */
export function formatTable(rows: readonly ChaosRow[]): string {
  const header = ['fault', 'requests', 'failures', 'recovery', 'recovered when', 'bounds', 'notes'];
  const body = rows.map((r) => [
    r.fault,
    String(r.requests),
    String(r.failures),
    r.recoveryMs === undefined ? '–' : `${(r.recoveryMs / 1000).toFixed(2)} s`,
    r.recoveredWhen,
    r.checks.map((c) => `${c.ok ? 'ok' : 'FAILED'}: ${c.what}`).join('; '),
    r.note,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** failuresOf counts what a client would call a failure: connection errors and non-2xx answers. */
export function failuresOf(r: { errors: number; non2xx: number }): number {
  return r.errors + r.non2xx;
}

/** describeFailures says which statuses and error codes the failures were. */
export function describeFailures(r: {
  statuses: Record<number, number>;
  errorCodes: Record<string, number>;
}): string {
  const statuses = Object.entries(r.statuses).filter(([s]) => Number(s) < 200 || Number(s) >= 300);
  const parts = [
    ...statuses.map(([s, n]) => `${n}×${s}`),
    ...Object.entries(r.errorCodes).map(([c, n]) => `${n}×${c}`),
  ];
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/**
 * until polls `condition` every `stepMs` and resolves with the ms it took, or rejects with `what`
 * after `timeoutMs`.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  stepMs = 20,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * serving waits until `url` answers 2xx: the API may report a group ready a moment before the
 * balancer's port opens (it opens once the groups are up, see `balancer.warmup_timeout`).
 */
export function serving(url: string, timeoutMs: number): Promise<number> {
  return until(
    async () => (await fetch(url).catch(() => undefined))?.ok === true,
    timeoutMs,
    `${url} answers`,
  );
}

export { freePort } from '../helpers/ports.js';

/** GroupOptions shape the one group `web` every fault runs. */
export interface GroupOptions {
  min: number;
  max: number;
  env?: Record<string, string>;
  /** YAML of `scaling:` (indented by the caller's needs: 6 spaces), or none. */
  scaling?: string;
  healthIntervalMs?: number;
}

/** HEALTH_INTERVAL_MS is the active health check period of the faults' balancer. */
export const HEALTH_INTERVAL_MS = 1000;
/** REQUEST_TIMEOUT_MS bounds how long a request stuck on a hung instance waits for its 504. */
export const REQUEST_TIMEOUT_MS = 8000;

/** chaosConfig is the YAML of a Scaleplane with one group of chaos backends. */
export function chaosConfig(
  options: GroupOptions,
  listen = { api: '127.0.0.1:0', balancer: '127.0.0.1:0' },
): string {
  const env = Object.entries(options.env ?? {})
    .map(([k, v]) => `\n      ${k}: ${JSON.stringify(v)}`)
    .join('');
  return `
api: { listen: ${listen.api} }
balancer:
  listen: ${listen.balancer}
  algorithm: least-connections
  health: { path: /healthz, interval: ${options.healthIntervalMs ?? HEALTH_INTERVAL_MS}ms, timeout: 1s }
  request_timeout: ${REQUEST_TIMEOUT_MS}ms
controller: { interval: 500ms }
groups:
  web:
    command: node --import tsx backend.ts
    cwd: ${JSON.stringify(FIXTURES)}
    min_instances: ${options.min}
    max_instances: ${options.max}
    env:${env || ' {}'}
${options.scaling ? `    scaling:\n${options.scaling}` : ''}`;
}

/** startApp runs Scaleplane in this process with the chaos backend group. */
export function startApp(options: GroupOptions): Promise<Scaleplane> {
  return startInProcess(chaosConfig(options), FIXTURES);
}

/** baseUrl is the balancer's URL. */
export function baseUrl(app: Scaleplane): string {
  const { host, port } = app.balancerAddress!;
  return `http://${host}:${port}`;
}

/** instanceUrl is one instance's own URL (for the knobs that must not go through the balancer). */
export function instanceUrl(address: string): string {
  return `http://${address}`;
}

const running = new Set<ReturnType<typeof startLoad>>();

/**
 * steadyLoad starts `SIZE.concurrency` keep-alive clients against `url` (bounded to 5 minutes); a fault
 * that fails half-way leaves its load to `stopLoads`.
 */
export function steadyLoad(url: string): ReturnType<typeof startLoad> {
  const handle = startLoad({ url, concurrency: SIZE.concurrency, maxDurationMs: 300_000 });
  running.add(handle);
  void handle.done.then(() => running.delete(handle));
  return handle;
}

/** stopLoads stops every load still running. */
export async function stopLoads(): Promise<void> {
  await Promise.all([...running].map((l) => l.stop()));
}
