import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * `nginx -s reload` only signals the master (SIGHUP) and exits 0: whether the master took the new
 * config, and when the old workers are done with their requests, shows only in its process tree.
 * A master that took it starts new workers and tells the old ones to finish and exit; one that
 * refused it (its error log says why) keeps the old workers and starts none. These read that tree
 * from /proc (Linux), by polling: Node has no way to wait for another process's children.
 */

/** NginxWorkers is the master and its children at one moment. */
export interface NginxWorkers {
  readonly master: number;
  readonly children: ReadonlySet<number>;
}

const POLL_MS = 25;

/** readMaster is the pid in `pidFile`, or undefined when there is none (nginx not running). */
export async function readMaster(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  const pid = Number(text?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * notMaster is the command line of process `pid` when it runs and is not an NGINX master (NGINX,
 * OpenResty, Angie and Tengine title theirs `<name>: master process …`), else undefined: also when
 * it cannot be read, since only a process that is surely another must be told apart.
 */
export async function notMaster(pid: number): Promise<string | undefined> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined || cmdline === '') return undefined;
  const line = cmdline.replace(/\0+$/, '').replace(/\0/g, ' ');
  if (/master process/.test(line)) return undefined;
  // A master writes its pid file before it titles itself "nginx: master process …": until then its
  // command line is still nginx's own (`/usr/sbin/nginx -c …`). A sync in that moment (a CI run
  // started nginx and scaled at once) was refused as "not an nginx master". Signal handlers are set
  // before the pid file is written, so a reload then is taken as any other.
  const program = cmdline.split('\0')[0] ?? '';
  return /^(nginx|openresty|angie)$/.test(basename(program)) ? undefined : line;
}

/** childrenOf lists the processes whose parent is `pid`. */
export async function childrenOf(pid: number): Promise<Set<number>> {
  const direct = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => undefined);
  if (direct !== undefined) return new Set(direct.split(/\s+/).filter(Boolean).map(Number));
  // Kernels without CONFIG_PROC_CHILDREN: every process's parent, from /proc/N/stat.
  const children = new Set<number>();
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so split after the last ')'.
    if (stat !== undefined && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) {
      children.add(Number(entry));
    }
  }
  return children;
}

/** workersOf is the master named by `pidFile` and its children, or undefined when it is not running. */
export async function workersOf(pidFile: string): Promise<NginxWorkers | undefined> {
  const master = await readMaster(pidFile);
  if (master === undefined) return undefined;
  return { master, children: await childrenOf(master) };
}

/**
 * newWorkersStarted resolves true once the master named by `pidFile` has a child that was not among
 * `before` (or another master runs), false when none appeared within `timeoutMs`.
 */
export async function newWorkersStarted(
  pidFile: string,
  before: NginxWorkers,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const now = await workersOf(pidFile);
    if (now !== undefined && now.master !== before.master) return true;
    if (now !== undefined && [...now.children].some((pid) => !before.children.has(pid))) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * startOf is the start time (clock ticks since boot, /proc/PID/stat field 22) of process `pid`, or
 * undefined when none runs by that pid (a zombie has exited: only its exit status is left).
 */
export async function startOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // `pid (comm) state ppid … starttime` (field 22); comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

/** RetiredWorkers are worker pids, each with its start time: a pid the kernel reused is another process. */
export type RetiredWorkers = ReadonlyMap<number, string>;

/** retire notes the start time of each of `pids` that runs now, for `exited`. */
export async function retire(pids: Iterable<number>): Promise<RetiredWorkers> {
  const retired = new Map<number, string>();
  for (const pid of pids) {
    const start = await startOf(pid);
    if (start !== undefined) retired.set(pid, start);
  }
  return retired;
}

/**
 * exited resolves true once none of the `retired` workers runs, false after `timeoutMs`. Each pid
 * is looked up itself, not among its master's children: a worker whose master died (SIGKILL, OOM)
 * is reparented and goes on serving its connections with the upstreams it loaded, and one that
 * never got the master's QUIT goes on accepting too. Timed on the monotonic clock, as the waits
 * here: on Date.now, a step of the system clock forward ended it at once (a scale-in then stopped an
 * instance old workers still sent requests to), a step back held it for as long as the step.
 */
export async function exited(retired: RetiredWorkers, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let running = false;
    for (const [pid, start] of retired) {
      if ((await startOf(pid)) === start) {
        running = true;
        break;
      }
    }
    if (!running) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(POLL_MS, Math.max(1, deadline - performance.now()))),
    );
  }
}
