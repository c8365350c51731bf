import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Instance } from '../types.js';

/** ProcStat is the part of one `/proc/[pid]/stat` line Scaleplane uses. Times are in clock ticks. */
export interface ProcStat {
  pid: number;
  /** Executable name as the kernel reports it (may contain spaces and parentheses). */
  comm: string;
  /** One letter: R running, S sleeping, Z zombie, … */
  state: string;
  ppid: number;
  pgrp: number;
  utime: number;
  stime: number;
  /** Time of children this process has waited for. */
  cutime: number;
  cstime: number;
  /** Start time after boot, in clock ticks (field 22): with the pid, it names one process for good. */
  starttime?: number;
}

/**
 * parseProcStat parses one `/proc/[pid]/stat` line, or returns undefined when it is malformed.
 * `comm` is everything between the first `(` and the last `)`: a process may name itself `a) (b`.
 */
export function parseProcStat(line: string): ProcStat | undefined {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(line.slice(0, open).trim());
  // After `) ` come fields 3 (state) onwards; field n of the man page is rest[n - 3].
  const rest = line
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  if (rest.length < 15 || !Number.isInteger(pid)) return undefined;
  const num = (field: number): number => Number(rest[field - 3]);
  const stat: ProcStat = {
    pid,
    comm: line.slice(open + 1, close),
    state: rest[0] ?? '',
    ppid: num(4),
    pgrp: num(5),
    utime: num(14),
    stime: num(15),
    cutime: num(16),
    cstime: num(17),
    ...(rest.length >= 20 && Number.isFinite(num(22)) && { starttime: num(22) }),
  };
  const numbers = [stat.ppid, stat.pgrp, stat.utime, stat.stime, stat.cutime, stat.cstime];
  return numbers.every(Number.isFinite) ? stat : undefined;
}

/**
 * readProcTable reads the stat line of every process under `procRoot`. Processes that exit while
 * it reads are skipped.
 */
export function readProcTable(procRoot = '/proc'): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    let line: string;
    try {
      line = readFileSync(`${procRoot}/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const stat = parseProcStat(line);
    if (stat) stats.push(stat);
  }
  return stats;
}

/**
 * groupTicks sums CPU ticks per process group over `stats`, for the groups in `pgids` that have at
 * least one process. Waited-for children's time (cutime/cstime) is included, so a child that
 * exited and was reaped inside the group is not lost; a child reaped by a process outside the group
 * (e.g. an orphan adopted by init) takes its time with it.
 */
export function groupTicks(stats: readonly ProcStat[], pgids: readonly number[]): Map<number, number> {
  const wanted = new Set(pgids);
  const ticks = new Map<number, number>();
  for (const s of stats) {
    if (!wanted.has(s.pgrp)) continue;
    ticks.set(s.pgrp, (ticks.get(s.pgrp) ?? 0) + s.utime + s.stime + s.cutime + s.cstime);
  }
  return ticks;
}

/**
 * groupLeaders is the start time of each group's leader (the process whose pid is the pgid) in
 * `stats`: with the pgid it names the group for good, as pids are reused (32768 of them here).
 */
export function groupLeaders(stats: readonly ProcStat[], pgids: readonly number[]): Map<number, number> {
  const wanted = new Set(pgids);
  const leaders = new Map<number, number>();
  for (const s of stats) {
    if (s.pid === s.pgrp && wanted.has(s.pgrp) && s.starttime !== undefined) leaders.set(s.pgrp, s.starttime);
  }
  return leaders;
}

/**
 * cpuPercent converts a tick delta over a wall-clock interval to percent of one core; a negative
 * delta (a member's time left the group) counts as 0. CpuSampler gives it none: see sample.
 */
export function cpuPercent(deltaTicks: number, elapsedMs: number, clockTicks: number): number {
  if (elapsedMs <= 0) return 0;
  return (Math.max(0, deltaTicks) / clockTicks / (elapsedMs / 1000)) * 100;
}

let cachedClockTicks: number | undefined;

/** clockTicksPerSecond is `getconf CLK_TCK`, asked once; 100 (the Linux value) if that fails. */
export function clockTicksPerSecond(): number {
  if (cachedClockTicks === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
      cachedClockTicks = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      cachedClockTicks = 100;
    }
  }
  return cachedClockTicks;
}

/** A baseline not refreshed for this long is of a group no longer sampled, ms (sampling is every second). */
const BASELINE_MAX_AGE_MS = 10 * 60_000;

/** CpuSamplerOptions configures a CpuSampler. */
export interface CpuSamplerOptions {
  /** @defaultValue '/proc' */
  procRoot?: string;
  /** @defaultValue `getconf CLK_TCK` (100 on Linux) */
  clockTicks?: number;
  /**
   * The clock the time between two samples is measured on, ms; monotonic, unlike the wall-clock
   * `now` that dates a sample. @defaultValue performance.now
   */
  elapsed?: () => number;
}

/**
 * CpuSampler measures the CPU use of whole process groups (an instance's `sh`, its app and
 * anything they spawn) between consecutive samples.
 */
export class CpuSampler {
  readonly #procRoot: string;
  readonly #clockTicks: number;
  readonly #elapsed: () => number;
  readonly #previous = new Map<number, { ticks: number; at: number; leader: number | undefined }>();

  constructor(options: CpuSamplerOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#clockTicks = options.clockTicks ?? clockTicksPerSecond();
    this.#elapsed = options.elapsed ?? (() => performance.now());
  }

  /**
   * sample returns, per process group, CPU percent (100 = one core) since the previous sample of
   * that group. A group seen for the first time, or with no process left, has no entry. `now` (wall
   * clock) is not used for the rate: the time between samples is read from the monotonic clock.
   * Before, a step of the system clock (NTP, a VM resumed) between two samples made the rate
   * wrong: a step back gave 0 % (a burning group read as idle), a step forward of 10 min at 1 s
   * samples gave 1/601 of the real figure, and the metric window's older samples, dated before the
   * step, fall out of it: that one reading was the whole average.
   */
  sample(pgids: readonly number[], _now: number): Map<number, number> {
    const stats = readProcTable(this.#procRoot);
    const ticks = groupTicks(stats, pgids);
    const leaders = groupLeaders(stats, pgids);
    const at = this.#elapsed();
    const result = new Map<number, number>();
    for (const pgid of pgids) {
      const current = ticks.get(pgid);
      const previous = this.#previous.get(pgid);
      if (current === undefined) {
        this.#previous.delete(pgid);
        continue;
      }
      // A group keeps its leader's start time (or, once the leader exited, none). Another start
      // time is another group on a reused pid: an instance restarted or replaced, whose old
      // baseline stayed here (groups that are gone are not sampled again, so not dropped above).
      // Its ticks less the old group's read as 0 % (or a few %, over the time since the old one's
      // last sample) where the new group has no rate yet.
      const leader = leaders.get(pgid) ?? previous?.leader;
      const sameGroup =
        previous !== undefined && (previous.leader === undefined || previous.leader === leader);
      // Ticks going down are a member's time gone with it (reaped outside the group): the use over
      // the interval is unknown, not 0 (as clamped before); the next sample measures from here.
      if (sameGroup && current >= previous.ticks) {
        result.set(pgid, cpuPercent(current - previous.ticks, at - previous.at, this.#clockTicks));
      }
      this.#previous.set(pgid, { ticks: current, at, leader });
    }
    this.#forgetOlderThan(at - BASELINE_MAX_AGE_MS);
    return result;
  }

  /** Baselines of groups no longer sampled (instances gone): dropped, or they grow with every restart. */
  #forgetOlderThan(at: number): void {
    for (const [pgid, baseline] of this.#previous) if (baseline.at < at) this.#previous.delete(pgid);
  }

  /** sampleInstances is `sample` keyed by instance id, for instances that have a pid. */
  sampleInstances(instances: readonly Instance[], now: number): Map<string, number> {
    const byPgid = new Map<number, string>();
    for (const instance of instances) if (instance.pid !== undefined) byPgid.set(instance.pid, instance.id);
    const result = new Map<string, number>();
    for (const [pgid, percent] of this.sample([...byPgid.keys()], now)) {
      const id = byPgid.get(pgid);
      if (id !== undefined) result.set(id, percent);
    }
    return result;
  }

  /** forget drops the baselines of groups that are no longer sampled. */
  forget(pgids: readonly number[]): void {
    for (const pgid of pgids) this.#previous.delete(pgid);
  }
}

/**
 * threadCount is the `Threads:` count of /proc/<pid>/status, 0 when it cannot be read. A process
 * in state Z with more than one is not dead yet: its main thread ended, its other threads still
 * exit (Node does so), and it still holds its cgroup.
 */
export function threadCount(pid: number, procRoot = '/proc'): number {
  try {
    const status = readFileSync(`${procRoot}/${pid}/status`, 'utf8');
    return Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}
