/**
 * Test cleanups kill the process groups of instances by pgid. Before, they did so by pids learnt up
 * to minutes earlier: an instance stopped during the test had long exited, and with
 * kernel.pid_max 32768 a full test run wraps pids within minutes, so its pid could by then lead
 * another group (a private MariaDB, PostgreSQL or Redis another test file started with setsid),
 * and the cleanup SIGKILLed that; a replica test lost its primary right after `up` (ECONNREFUSED).
 * Here a pgid is recorded with its leader's `/proc` start time when the test learns it, and a group
 * is signalled only while it is still the one recorded: the rule the local provider follows for its
 * own stops (groupOwner in src/providers/local/pgid.ts).
 */
import { type GroupOwnerReason, groupOwner, readProcStat } from '../../src/providers/local/pgid.js';

/** GroupRecord names a process group for good: its id and its leader's start time when learnt. */
export interface GroupRecord {
  readonly pgid: number;
  /** The leader's `/proc/<pgid>/stat` start time when the test learnt the pgid; undefined if it was gone. */
  readonly startTime: number | undefined;
}

/** KillOutcome says whether `signal` was sent to the group, and why (or why not). */
export interface KillOutcome {
  pgid: number;
  signal: NodeJS.Signals;
  sent: boolean;
  /**
   * `leader-alive`/`pid-free`: the group is still ours (sent, unless none of it was left: `gone`);
   * `pid-reused`: another process has the pid now, left alone; `failed`: kill(2) refused it.
   */
  reason: Exclude<GroupOwnerReason, 'leader-unreaped'> | 'gone' | 'failed';
  /** What was done, in words, for the test's output. */
  message: string;
}

/**
 * recordGroup reads the start time of the leader of `pgid` at once. Call it as soon as the test
 * learns the pid (from a log line, the control API, a ChildProcess): later, the pid may already be
 * another process's.
 */
export function recordGroup(pgid: number): GroupRecord {
  // -0 would be this test's own group, -1 every process it may signal.
  if (!Number.isInteger(pgid) || pgid <= 1) throw new TypeError(`pgid: want an integer above 1, got ${pgid}`);
  return { pgid, startTime: readProcStat(pgid)?.starttime };
}

/**
 * killGroup sends `signal` to the group `record` names if it is still that group: no process has
 * the pid (then what is left of the group, if anything, is still ours: the kernel reuses neither
 * the pid nor the group id while any process of the group lives), or the one that has it started
 * when the recorded leader did. A pid now held by another process is left alone.
 */
export function killGroup(record: GroupRecord, signal: NodeJS.Signals = 'SIGKILL'): KillOutcome {
  const { pgid } = record;
  const holder = readProcStat(pgid);
  // The test never reaped the leader itself, or cannot know: only the start time tells.
  const { ours, reason } = groupOwner({ reaped: true, startTime: record.startTime }, holder);
  if (!ours) {
    const then =
      record.startTime === undefined
        ? 'had exited when the test learnt it'
        : `started at tick ${record.startTime}`;
    return {
      pgid,
      signal,
      sent: false,
      reason: 'pid-reused',
      message: `left process group ${pgid} alone (no ${signal}): pid ${pgid} is another process now (${holder?.comm ?? '?'}, started at tick ${holder?.starttime}); ours ${then}`,
    };
  }
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH')
      return { pgid, signal, sent: false, reason: 'gone', message: `process group ${pgid}: none of it left` };
    return {
      pgid,
      signal,
      sent: false,
      reason: 'failed',
      message: `${signal} to process group ${pgid}: ${code}`,
    };
  }
  return {
    pgid,
    signal,
    sent: true,
    reason: reason as 'leader-alive' | 'pid-free',
    message: `${signal} to process group ${pgid} (${reason})`,
  };
}

/**
 * KnownGroups are the process groups a test learnt of (its instances', or those a controller it
 * runs started), for its cleanup to kill those, and only those, that are still the ones it learnt.
 */
export class KnownGroups {
  readonly #records = new Map<number, GroupRecord>();
  readonly #log: (line: string) => void;

  /** `log` gets a line for every group left alone, and for every signal kill(2) refused. */
  constructor(log: (line: string) => void = (line) => console.warn(`[kill-groups] ${line}`)) {
    this.#log = log;
  }

  /**
   * add records `pgid` with its leader's start time now (or takes a record read already, such as
   * right after a spawn): call it when the test learns, from a source that says so now, that the
   * pid is one of its instances (never at cleanup from an old list). Learnt again while a process
   * has the pid, the new record replaces the old: that group is gone (its pid was reused, by this
   * new instance).
   */
  add(learnt: number | GroupRecord): GroupRecord {
    const record = typeof learnt === 'number' ? recordGroup(learnt) : learnt;
    const known = this.#records.get(record.pgid);
    if (known === undefined || record.startTime !== undefined) this.#records.set(record.pgid, record);
    return this.#records.get(record.pgid)!;
  }

  /** pgids lists the recorded pgids, in the order first learnt. */
  pgids(): number[] {
    return [...this.#records.keys()];
  }

  /** kill signals the recorded group `pgid` if it is still ours (see killGroup); an unrecorded pgid throws. */
  kill(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): KillOutcome {
    const record = this.#records.get(pgid);
    if (record === undefined)
      throw new Error(`pgid: ${pgid} was never recorded, so it is not known to be ours`);
    const outcome = killGroup(record, signal);
    if (outcome.reason === 'pid-reused' || outcome.reason === 'failed') this.#log(outcome.message);
    return outcome;
  }

  /** killAll signals every recorded group that is still ours; returns what was done with each. */
  killAll(signal: NodeJS.Signals = 'SIGKILL'): KillOutcome[] {
    return this.pgids().map((pgid) => this.kill(pgid, signal));
  }
}
