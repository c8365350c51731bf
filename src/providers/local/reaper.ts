import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * REAPER_SOURCE is the reaper program, run with `node -e` so it works the same from `src` under tsx
 * and from `dist` (tsc copies no `.js`/`.mjs` assets).
 *
 * Protocol on stdin, one line each: `+<pgid> <graceMs>[ <JSON array of cgroup.procs files>]`
 * registers a process group (and the cgroups of a sized instance), `-<pgid>` forgets it. On EOF (the
 * parent exited, however it died, because the kernel closes its end of the pipe) the reaper sends
 * SIGTERM to every registered group and every process of its cgroups (one that left the group
 * with setsid() is still there), SIGKILL to those still alive after their grace, removes the
 * cgroups once empty, and exits.
 */
export const REAPER_SOURCE = String.raw`'use strict';
process.title = 'scaleplane-reaper';
// A terminal's Ctrl-C or hangup is for Scaleplane, which stops its instances itself.
for (const s of ['SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGPIPE']) process.on(s, () => {});
const fs = require('fs');
// pgid -> { grace, procs: cgroup.procs files }
const groups = new Map();
let buffer = '';
let reaping = false;
const cgroupPids = (procs) => {
  const pids = [];
  for (const file of procs) {
    let text = '';
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n')) if (Number(line) > 0) pids.push(Number(line));
  }
  return pids;
};
// Once its processes are gone, a cgroup left by a dead Scaleplane is removed (nobody else would).
const forget = (pgid) => {
  for (const file of groups.get(pgid).procs) {
    try { fs.rmdirSync(file.slice(0, file.lastIndexOf('/'))); } catch {}
  }
  groups.delete(pgid);
};
// Signals the group and its cgroups' processes; true while any of them is left.
const signal = (pgid, sig, procs) => {
  let left = false;
  try { process.kill(-pgid, sig); left = true; } catch (e) { left = e.code === 'EPERM'; }
  for (const pid of cgroupPids(procs)) {
    try { process.kill(pid, sig); left = true; } catch {}
  }
  return left;
};
const reap = () => {
  if (reaping) return;
  reaping = true;
  // Monotonic: with Date.now, a step back of the system clock during the grace held the SIGKILL
  // (and the reaper's exit) off for as long as the step, an instance ignoring SIGTERM left running.
  const start = performance.now();
  let longest = 0;
  for (const [pgid, { grace, procs }] of groups) {
    longest = Math.max(longest, grace);
    if (!signal(pgid, 'SIGTERM', procs)) forget(pgid);
  }
  const tick = () => {
    const elapsed = performance.now() - start;
    for (const [pgid, { grace, procs }] of groups) {
      if (!signal(pgid, 0, procs)) forget(pgid);
      else if (elapsed >= grace) signal(pgid, 'SIGKILL', procs);
    }
    // Zombies nobody reaps still answer kill(0); give up on them after a bounded time.
    if (groups.size === 0 || elapsed > longest + 5000) process.exit(0);
    setTimeout(tick, 50);
  };
  tick();
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const m = /^([+-])(\d+)(?: (\d+))?(?: (.+))?$/.exec(buffer.slice(0, nl));
    buffer = buffer.slice(nl + 1);
    const pgid = m ? Number(m[2]) : 0;
    if (pgid <= 1) continue;
    let procs = [];
    try { procs = m[4] ? JSON.parse(m[4]).filter((f) => typeof f === 'string') : []; } catch {}
    if (m[1] === '+') groups.set(pgid, { grace: Number(m[3] ?? 5000), procs });
    else groups.delete(pgid);
  }
});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
`;

/**
 * Reaper is the parent side of the reaper process: one per Scaleplane process, shared by every
 * LocalProvider, started on first use.
 */
export class Reaper {
  #child: ChildProcess | undefined;
  #lastSpawn = 0;
  readonly #users = new Set<(err: Error) => void>();
  /** pgid → grace and the cgroup.procs files of its cgroups (none for an unsized instance). */
  readonly #groups = new Map<number, { graceMs: number; procs: readonly string[] }>();

  /**
   * acquire records one more user (a LocalProvider) that hears about reaper failures through
   * `onError`; it returns the matching release. The reaper lives while any user or group does.
   */
  acquire(onError: (err: Error) => void): () => void {
    const user = (err: Error) => onError(err);
    this.#users.add(user);
    return () => {
      this.#users.delete(user);
      this.#maybeEnd();
    };
  }

  /**
   * register asks the reaper to kill group `pgid`, and every process in the cgroups whose
   * `cgroup.procs` files are `procs` (SIGTERM, then SIGKILL after `graceMs`), if we die.
   */
  register(pgid: number, graceMs: number, procs: readonly string[] = []): void {
    this.#groups.set(pgid, { graceMs, procs });
    if (!this.#child) this.#spawn();
    else this.#send(registration(pgid, graceMs, procs));
  }

  /** unregister forgets group `pgid`, once it has no process left. */
  unregister(pgid: number): void {
    if (!this.#groups.delete(pgid)) return;
    this.#send(`-${pgid}\n`);
    this.#maybeEnd();
  }

  /** pid of the running reaper process, if any (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  #spawn(): void {
    this.#lastSpawn = performance.now();
    const env = { ...process.env };
    // The reaper needs no loader (tsx) nor the parent's heap flags.
    delete env.NODE_OPTIONS;
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, ['-e', REAPER_SOURCE], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
        cwd: '/',
        env,
      });
    } catch (err) {
      this.#report(new Error('cannot start the reaper process', { cause: err }));
      return;
    }
    this.#child = child;
    child.on('error', (err) => {
      // A failed spawn may emit no 'exit'; forget the child so the next register tries again.
      if (this.#child === child) this.#child = undefined;
      this.#report(new Error('reaper process error', { cause: err }));
    });
    child.stdin?.on('error', () => {
      // EPIPE when the reaper died; the exit handler below deals with it.
    });
    child.on('exit', (code, signal) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      if (this.#groups.size === 0) return;
      this.#report(new Error(`reaper process exited (code ${code}, signal ${signal}) with live groups`));
      // Respawn at most once a second, so a reaper that cannot run does not spin.
      if (performance.now() - this.#lastSpawn > 1000) this.#spawn();
    });
    // The reaper must not keep Scaleplane alive: neither the process handle nor its stdin pipe.
    child.unref();
    (child.stdin as Socket | null)?.unref();
    let lines = '';
    for (const [pgid, { graceMs, procs }] of this.#groups) lines += registration(pgid, graceMs, procs);
    if (lines) this.#send(lines);
  }

  #send(text: string): void {
    const stdin = this.#child?.stdin;
    if (stdin && !stdin.destroyed && stdin.writable) stdin.write(text);
  }

  #report(err: Error): void {
    for (const user of this.#users) user(err);
  }

  #maybeEnd(): void {
    if (this.#users.size > 0 || this.#groups.size > 0 || !this.#child) return;
    const child = this.#child;
    this.#child = undefined;
    child.stdin?.end();
  }
}

/** registration is the `+` line registering a group (and its cgroups' procs files) with the reaper. */
function registration(pgid: number, graceMs: number, procs: readonly string[]): string {
  return `+${pgid} ${Math.round(graceMs)}${procs.length > 0 ? ` ${JSON.stringify(procs)}` : ''}\n`;
}

let shared: Reaper | undefined;

/** sharedReaper returns the process-wide Reaper, creating it on first call. */
export function sharedReaper(): Reaper {
  shared ??= new Reaper();
  return shared;
}
