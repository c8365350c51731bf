/**
 * Test cleanups kill the process groups of instances by pgid. Before, they did so by pids learnt up
 * to minutes earlier: an instance stopped during the test had long exited, and with
 * kernel.pid_max 32768 a full test run wraps pids within minutes, so its pid could by then lead
 * another group (a private MariaDB, PostgreSQL or Redis another test file started with setsid),
 * and the cleanup SIGKILLed that; a replica test lost its primary right after `up` (ECONNREFUSED).
 * Here a pgid is recorded with its leader's `/proc` start time when the test learns it, and a group
 * is signalled only while it is still the one recorded: the rule the local provider follows for its
 * own stops (groupOwner in src/providers/local/pgid.ts). The same holds for a single process killed
 * by its pid (a helper that left its group, an NGINX worker): KnownProcesses.
 */
import { type GroupOwnerReason, groupOwner, readProcStat } from '../../src/providers/local/pgid.js';

/** PidRecord names a process (or the group it leads) for good: its pid and its start time when learnt. */
export interface PidRecord {
  readonly pid: number;
  /** Its `/proc/<pid>/stat` start time when the test learnt the pid; undefined if it was gone. */
  readonly startTime: number | undefined;
}

/** Scope is what a signal goes to: the process group the pid leads, or that one process. */
export type Scope = 'group' | 'process';

/** KillOutcome says whether `signal` was sent, and why (or why not). */
export interface KillOutcome {
  /** The pgid (scope `group`) or the pid (scope `process`). */
  pid: number;
  scope: Scope;
  signal: NodeJS.Signals;
  sent: boolean;
  /**
   * `leader-alive`/`pid-free`: still ours (sent, unless nothing was left: `gone`); `pid-reused`:
   * another process has the pid now, left alone; `failed`: kill(2) refused it.
   */
  reason: Exclude<GroupOwnerReason, 'leader-unreaped'> | 'gone' | 'failed';
  /** What was done, in words, for the test's output. */
  message: string;
}

/**
 * recordPid reads the start time of the process `pid` at once. Call it as soon as the test learns
 * the pid (from a log line, the control API, a ChildProcess): later, it may be another process's.
 */
export function recordPid(pid: number): PidRecord {
  // -0 would be this test's own group, -1 every process it may signal.
  if (!Number.isInteger(pid) || pid <= 1) throw new TypeError(`pid: want an integer above 1, got ${pid}`);
  return { pid, startTime: readProcStat(pid)?.starttime };
}

/**
 * signalRecorded sends `signal` to the group `record` names (or to its one process) if it is
 * still that one: no process has the pid (then what is left of the group, if anything, is still
 * ours: the kernel reuses neither a pid nor a group id while any process of the group lives), or
 * the one that has it started when the recorded one did. A pid now another process's is left alone.
 */
function signalRecorded(record: PidRecord, scope: Scope, signal: NodeJS.Signals): KillOutcome {
  const { pid } = record;
  const what = scope === 'group' ? `process group ${pid}` : `process ${pid}`;
  const holder = readProcStat(pid);
  // The test never reaped it itself, or cannot know: only the start time tells.
  const { ours, reason } = groupOwner({ reaped: true, startTime: record.startTime }, holder);
  const outcome = (sent: boolean, why: KillOutcome['reason'], message: string): KillOutcome => ({
    pid,
    scope,
    signal,
    sent,
    reason: why,
    message,
  });
  if (!ours) {
    const then =
      record.startTime === undefined
        ? 'had exited when the test learnt it'
        : `started at tick ${record.startTime}`;
    return outcome(
      false,
      'pid-reused',
      `left ${what} alone (no ${signal}): pid ${pid} is another process now (${holder?.comm ?? '?'}, started at tick ${holder?.starttime}); ours ${then}`,
    );
  }
  try {
    process.kill(scope === 'group' ? -pid : pid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return outcome(false, 'gone', `${what}: none of it left`);
    return outcome(false, 'failed', `${signal} to ${what}: ${code}`);
  }
  return outcome(true, reason as 'leader-alive' | 'pid-free', `${signal} to ${what} (${reason})`);
}

/** killGroup signals the process group `record` names if it is still that group (see signalRecorded). */
export function killGroup(record: PidRecord, signal: NodeJS.Signals = 'SIGKILL'): KillOutcome {
  return signalRecorded(record, 'group', signal);
}

/** killProcess signals the one process `record` names if its pid is still that process's. */
export function killProcess(record: PidRecord, signal: NodeJS.Signals = 'SIGKILL'): KillOutcome {
  return signalRecorded(record, 'process', signal);
}

/**
 * KnownPids are the pids a test learnt of, for its cleanup to signal those, and only those, that
 * are still what it learnt: the groups they lead (KnownGroups) or the processes (KnownProcesses).
 */
class KnownPids {
  readonly #records = new Map<number, PidRecord>();
  readonly #scope: Scope;
  readonly #log: (line: string) => void;

  /** `log` gets a line for every pid left alone, and for every signal kill(2) refused. */
  constructor(scope: Scope, log: (line: string) => void = (line) => console.warn(`[kill-groups] ${line}`)) {
    this.#scope = scope;
    this.#log = log;
  }

  /**
   * add records `pid` with its start time now (or takes a record read already, such as right
   * after a spawn): call it when the test learns, from a source that says so now, that the pid is
   * one of its own (never at cleanup from an old list). Learnt again while a process has the pid,
   * the new record replaces the old: that one is gone (its pid was reused, by this new one).
   */
  add(learnt: number | PidRecord): PidRecord {
    const record = typeof learnt === 'number' ? recordPid(learnt) : learnt;
    const known = this.#records.get(record.pid);
    if (known === undefined || record.startTime !== undefined) this.#records.set(record.pid, record);
    return this.#records.get(record.pid)!;
  }

  /** pids lists the recorded pids, in the order first learnt. */
  pids(): number[] {
    return [...this.#records.keys()];
  }

  /** kill signals the recorded `pid` if it is still ours (see signalRecorded); an unrecorded one throws. */
  kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): KillOutcome {
    const record = this.#records.get(pid);
    if (record === undefined)
      throw new Error(`pid: ${pid} was never recorded, so it is not known to be ours`);
    const outcome = signalRecorded(record, this.#scope, signal);
    if (outcome.reason === 'pid-reused' || outcome.reason === 'failed') this.#log(outcome.message);
    return outcome;
  }

  /** killAll signals every recorded pid that is still ours; returns what was done with each. */
  killAll(signal: NodeJS.Signals = 'SIGKILL'): KillOutcome[] {
    return this.pids().map((pid) => this.kill(pid, signal));
  }
}

/** KnownGroups are the process groups (by their leaders' pids) a test learnt of; see KnownPids. */
export class KnownGroups extends KnownPids {
  constructor(log?: (line: string) => void) {
    super('group', log);
  }
}

/** KnownProcesses are single processes (by pid) a test learnt of; see KnownPids. */
export class KnownProcesses extends KnownPids {
  constructor(log?: (line: string) => void) {
    super('process', log);
  }
}
