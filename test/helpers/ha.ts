/**
 * What the HA integration tests share about a `scaleplane up` child: its log lines, its control
 * API (groups, scale calls, waiting for a count of ready instances), the pids it started, and a
 * counter that promises can wait on.
 */
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after } from 'node:test';
import { type LogLine, UpProcess } from './cli-process.js';
import { KnownGroups } from './kill-groups.js';
import { DEMO_DIR, writeTempConfig } from './scaleplane.js';

/** GroupView is the part of `GET /api/scalability/groups/:name` the HA tests read. */
export interface GroupView {
  desired: number;
  instances: { id: string; pid: number; state: string }[];
}

/** logMsg matches a log line whose message starts with `prefix`. */
export const logMsg =
  (prefix: string) =>
  (l: LogLine): boolean =>
    String(l.msg).startsWith(prefix);

/** apiBase is the child's control API origin, once it logged it. */
export async function apiBase(up: UpProcess): Promise<string> {
  const line = await up.waitFor(logMsg('control API on'), 20_000);
  const { host, port } = line.address as { host: string; port: number };
  return `http://${host}:${port}`;
}

/** balancerPort is the port the child's balancer listens on, once it logged it. */
export async function balancerPort(up: UpProcess): Promise<number> {
  const line = await up.waitFor(logMsg('balancer listening on'), 30_000);
  return (line.address as { port: number }).port;
}

/** startedPids are the pids a controller logged starting ("starting web-N (pid P)"). */
export function startedPids(up: UpProcess): number[] {
  return up.lines.filter(logMsg('starting web-')).map((l) => Number(l.pid));
}

/**
 * recordStarted records in `groups` every instance `up` logs starting, as the line is read: with a
 * lease or a state store, instances outlive their controller by design and the test kills them,
 * and by its cleanup a pid read from the log then may be another process's.
 */
export function recordStarted(up: UpProcess, groups: KnownGroups): void {
  up.onLine((l) => {
    if (logMsg('starting web-')(l)) groups.add(Number(l.pid));
  });
}

/**
 * upControllers starts `scaleplane up` children with `token` as their API key, each recorded in
 * `groups` with the instances it logs starting; after the describe block that calls it, every
 * child and every group still ours is SIGKILLed (instances outlive their controller by design).
 */
export function upControllers(token: string) {
  const groups = new KnownGroups();
  const ups: UpProcess[] = [];
  after(async () => {
    for (const up of ups) up.child.kill('SIGKILL');
    // Those still ours: since they were learnt, their pids may have been reused.
    groups.killAll('SIGKILL');
  });
  /** start starts `scaleplane up -c configPath`. */
  const start = (configPath: string, options: { captureStderr?: boolean } = {}): UpProcess => {
    const up = new UpProcess(configPath, { SCALEPLANE_API_KEY: token }, options);
    ups.push(up);
    recordStarted(up, groups);
    return up;
  };
  return { groups, start };
}

/** DEMO_WEB is group web in writeFileStateConfig unless told: the demo server, 1 to 5 instances. */
export const DEMO_WEB = { command: 'node server.js', cwd: DEMO_DIR, min_instances: 1, max_instances: 5 };

/**
 * writeFileStateConfig writes a config with the file state store and no lease, the control API on
 * port 0, the balancer on port 0 checking /healthz every second (`balancer` merged in), and group
 * `web`, in a temp folder removed after the test; returns its path (the state file is
 * `.scaleplane-state.json` beside it).
 */
export async function writeFileStateConfig({
  balancer = {},
  web = DEMO_WEB,
}: {
  balancer?: Record<string, unknown>;
  web?: Record<string, unknown>;
} = {}): Promise<string> {
  const balancerSettings = {
    listen: '127.0.0.1:0',
    health: { path: '/healthz', interval: '1s' },
    ...balancer,
  };
  // JSON is YAML: the balancer's and the group's settings go in as flow mappings.
  const configPath = await writeTempConfig(`
api: { listen: 127.0.0.1:0 }
balancer: ${JSON.stringify(balancerSettings)}
controller:
  state: { backend: file }
groups:
  web: ${JSON.stringify(web)}
`);
  after(() => rm(dirname(configPath), { recursive: true, force: true }));
  return configPath;
}

/** controlApi is a child's control API called with `token`, for the group `web`. */
export function controlApi(token: string) {
  /** api calls `path` (from the origin: `/api/scalability/…`, `/metrics`) with the token. */
  const api = async (up: UpProcess, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${await apiBase(up)}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
  const group = async (up: UpProcess): Promise<GroupView> =>
    (await (await api(up, '/api/scalability/groups/web')).json()) as GroupView;
  const scale = (up: UpProcess, action: string, instances: number): Promise<Response> =>
    api(up, '/api/scalability/scale-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', action, instances }),
    });
  /** untilReady polls the API until exactly `n` instances are ready (they become so on their own). */
  const untilReady = async (up: UpProcess, n: number, timeoutMs: number): Promise<GroupView> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = await group(up);
      if (view.instances.length === n && view.instances.every((i) => i.state === 'ready')) return view;
      if (Date.now() > deadline) throw new Error(`not ${n} ready: ${JSON.stringify(view)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { api, group, scale, untilReady };
}

/**
 * countWaiters lets promises wait for a counter to reach a value: the counter's owner calls
 * `reached(count)` after every change, a waiter `atLeast(current, n)`.
 */
export function countWaiters(what: string) {
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    reached(count: number): void {
      for (const w of [...waiters]) {
        if (count >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    /** atLeast resolves once the counter (now `current`) reaches `n`; rejects after `timeoutMs`. */
    atLeast(current: number, n: number, timeoutMs: number): Promise<void> {
      if (current >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`not ${n} ${what} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}
