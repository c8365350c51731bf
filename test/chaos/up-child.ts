// `scaleplane up` as a child process for the faults that hit Scaleplane itself: its own ports
// (fixed per fault, so a restarted controller listens where the clients already point), its
// stdout (the log) in a file of the test's choosing, and a small client for its control API.
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ROOT } from '../helpers/cli-process.js';
import { spawnInTree } from '../helpers/process-tree.js';
import { runnable } from '../helpers/runnable.js';
import { until } from './harness.js';

/** TOKEN is the admin token the child gets in SCALEPLANE_API_KEY. */
export const TOKEN = 'chaos-admin-token-0123456789';

/** UpChild is one running `scaleplane up`. */
export class UpChild {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';

  /** logPath receives the child's stdout (its JSON log), appended. */
  constructor(configPath: string, logPath: string) {
    const log = openSync(logPath, 'a');
    // In the test's tree: when the chaos file passes its timeout (the runner then SIGTERMs it and
    // no `finally` runs), this `up` and its instances, which outlive it on purpose with the file
    // state store, are killed with the test process instead of running on (see spawnInTree).
    this.child = spawnInTree(process.execPath, [...runnable('src/cli/main.ts'), 'up', '-c', configPath], {
      cwd: ROOT,
      env: { ...process.env, SCALEPLANE_API_KEY: TOKEN },
      stdio: ['ignore', log, 'pipe'],
    });
    closeSync(log);
    this.child.stderr!.on('data', (d) => {
      this.stderr += d;
    });
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** stop sends SIGTERM (drain and stop every instance) and waits for the exit. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** ControlApi calls one Scaleplane's control API with the admin token. */
export class ControlApi {
  readonly base: string;
  constructor(port: number) {
    this.base = `http://127.0.0.1:${port}`;
  }

  async #call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.json().catch(() => undefined) };
  }

  /** group is `GET /api/scalability/groups/:name`, or undefined while the API does not answer. */
  async group(
    name: string,
  ): Promise<{ desired: number; ready: number; instances: { id: string; pid?: number }[] } | undefined> {
    try {
      const r = await this.#call('GET', `/api/scalability/groups/${name}`);
      return r.status === 200
        ? (r.body as { desired: number; ready: number; instances: { id: string }[] })
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** metrics is the text of `GET /metrics`. */
  async metrics(): Promise<string> {
    const res = await fetch(`${this.base}/metrics`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(10_000),
    });
    return res.text();
  }

  /** set is `POST /api/scalability/scale-group` with action `set`; returns the status code. */
  async set(name: string, instances: number): Promise<number> {
    return (await this.setWithAnswer(name, instances)).status;
  }

  /** setWithAnswer is `set` with the answer's body (an error's `code` and `inEffect`). */
  async setWithAnswer(
    name: string,
    instances: number,
  ): Promise<{ status: number; body: { code?: string; inEffect?: boolean } }> {
    const res = await this.#call('POST', '/api/scalability/scale-group', {
      group: name,
      action: 'set',
      instances,
    });
    return { status: res.status, body: (res.body ?? {}) as { code?: string; inEffect?: boolean } };
  }

  /** settled waits until the group has `n` desired and `n` ready instances. */
  settled(name: string, n: number, timeoutMs: number): Promise<number> {
    return until(
      async () => {
        const g = await this.group(name);
        return g?.desired === n && g.ready === n && g.instances.length === n;
      },
      timeoutMs,
      `group ${name} at ${n} ready (API)`,
      100,
    );
  }
}
