import { readFileSync, unlinkSync } from 'node:fs';
import { link, open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { parseProcStat } from '../../providers/local/cpu.js';
import { StateError } from './types.js';

/** LockHolder is who a state file's lock file names: written by the process that holds it. */
export interface LockHolder {
  pid: number;
  /** The process's start time after boot, in clock ticks (`/proc/<pid>/stat` field 22): with the pid, one process for good. */
  start?: number;
  host: string;
}

/** HolderLiveness is what is known of a lock's holder: it runs, it is gone, or it is on another host (unknowable). */
export type HolderLiveness = 'running' | 'gone' | 'elsewhere';

/** ProcessFacts are what judgeHolder reads about a pid on this host. */
export interface ProcessFacts {
  /** kill(pid, 0) found a process (EPERM counts: it runs as another user). */
  exists: boolean;
  /** Its start time, when /proc tells. */
  start?: number;
}

/**
 * judgeHolder says whether a lock's holder still runs: a pid that no process has is gone, and so is
 * one that another process took since (the start time differs: the pid was reused after a crash).
 * A holder on another host (a state file on a shared disk) cannot be checked from here.
 */
export function judgeHolder(holder: LockHolder, here: string, facts: ProcessFacts): HolderLiveness {
  if (holder.host !== here) return 'elsewhere';
  if (!facts.exists) return 'gone';
  if (holder.start !== undefined && facts.start !== undefined && holder.start !== facts.start) return 'gone';
  return 'running';
}

/** parseHolder reads a lock file's text, or undefined when it is not one this module wrote. */
export function parseHolder(text: string): LockHolder | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const h = parsed as Partial<LockHolder> | null;
  if (typeof h !== 'object' || h === null || !Number.isInteger(h.pid) || (h.pid as number) <= 0)
    return undefined;
  if (typeof h.host !== 'string') return undefined;
  if (h.start !== undefined && !Number.isInteger(h.start)) return undefined;
  return { pid: h.pid as number, host: h.host, ...(h.start !== undefined && { start: h.start }) };
}

/** processFacts reads, for a pid on this host, whether it runs and when it started. */
function processFacts(pid: number): ProcessFacts {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return { exists: false };
  }
  const start = startTimeOf(pid);
  return { exists: true, ...(start !== undefined && { start }) };
}

/** startTimeOf is a process's start time from /proc, undefined where there is no /proc. */
function startTimeOf(pid: number): number | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.starttime;
  } catch {
    return undefined;
  }
}

/** lockPathOf is the lock file of a state file: beside it, `<file>.lock`. */
export function lockPathOf(statePath: string): string {
  return `${statePath}.lock`;
}

/** lockedMessage says who holds a state file and what to do, naming the file, the lock and the pid. */
export function lockedMessage(statePath: string, holder: LockHolder, liveness: HolderLiveness): string {
  const who =
    liveness === 'elsewhere'
      ? `pid ${holder.pid} on host ${holder.host} (not checkable from here: remove ${lockPathOf(statePath)} if it is gone)`
      : `pid ${holder.pid}`;
  return (
    `state file ${statePath} is in use by another Scaleplane, ${who}; lock ${lockPathOf(statePath)}. ` +
    'Without controller.lease one controller runs per state file: stop that one, give this one its own ' +
    'controller.state.path, or configure controller.lease to run both as HA'
  );
}

/**
 * StateFileLock is the exclusive lock of one state file, as NGINX's and PostgreSQL's pid files are:
 * `<file>.lock` holding this process's pid, created atomically (written aside, then hard-linked into
 * place, so nobody reads a half-written one). A lock whose process is gone (killed, crashed) is
 * taken over. Released by release(), or at the process's exit.
 */
export class StateFileLock {
  readonly path: string;
  /** The holder whose stale lock this one replaced (it was killed or crashed), if any. */
  readonly tookOverFrom: LockHolder | undefined;
  readonly #self: LockHolder;
  #onExit: (() => void) | undefined;

  private constructor(path: string, self: LockHolder, tookOverFrom: LockHolder | undefined) {
    this.path = path;
    this.#self = self;
    this.tookOverFrom = tookOverFrom;
    // A forced exit (a second SIGTERM, an uncaught error) skips close(): the lock goes all the same.
    this.#onExit = () => this.#releaseSync();
    process.once('exit', this.#onExit);
  }

  /**
   * acquire takes the lock of `statePath`, or rejects StateError `STATE_LOCKED` naming the file and
   * the pid that holds it.
   */
  static async acquire(statePath: string): Promise<StateFileLock> {
    const path = lockPathOf(statePath);
    const here = hostname();
    const start = startTimeOf(process.pid);
    const self: LockHolder = { pid: process.pid, ...(start !== undefined && { start }), host: here };
    const aside = `${path}.${process.pid}.tmp`;
    try {
      await writeFile(aside, `${JSON.stringify(self)}\n`, { mode: 0o644 });
    } catch (err) {
      throw lockError(statePath, err);
    }
    let tookOverFrom: LockHolder | undefined;
    try {
      // A few rounds: each lost race (another process took or removed the lock meanwhile) is re-judged.
      for (let round = 0; round < 5; round++) {
        try {
          await createFrom(aside, path, self);
          return new StateFileLock(path, self, tookOverFrom);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(statePath, err);
        }
        const found = await readLock(path).catch((err: unknown) => {
          throw lockError(statePath, err);
        });
        if (found === undefined) continue; // removed since: try again
        if (found.holder === undefined) {
          throw new StateError(
            'STATE_LOCKED',
            `state file ${statePath}: its lock ${path} is not one Scaleplane wrote; remove it if no Scaleplane uses the state file`,
          );
        }
        const liveness = judgeHolder(found.holder, here, processFacts(found.holder.pid));
        if (liveness !== 'gone') {
          throw new StateError('STATE_LOCKED', lockedMessage(statePath, found.holder, liveness));
        }
        const removed = await removeIfSame(path, found.ino).catch((err: unknown) => {
          throw lockError(statePath, err);
        });
        if (removed) tookOverFrom = found.holder;
      }
      throw new StateError(
        'STATE_LOCKED',
        `state file ${statePath}: could not take its lock ${path} (contended)`,
      );
    } finally {
      await unlink(aside).catch(() => {});
    }
  }

  /** release removes the lock file, if it still names this process; safe to call twice. */
  async release(): Promise<void> {
    if (this.#onExit === undefined) return;
    process.removeListener('exit', this.#onExit);
    this.#onExit = undefined;
    const found = await readLock(this.path).catch(() => undefined);
    if (found?.holder !== undefined && sameHolder(found.holder, this.#self))
      await removeIfSame(this.path, found.ino);
  }

  #releaseSync(): void {
    this.#onExit = undefined;
    try {
      const holder = parseHolder(readFileSync(this.path, 'utf8'));
      if (holder !== undefined && sameHolder(holder, this.#self)) unlinkSync(this.path);
    } catch {}
  }
}

/**
 * createFrom puts the lock in place, failing EEXIST when there is one: a hard link of the file
 * written aside, so it appears whole; where the file system has no hard links, an O_EXCL create.
 */
async function createFrom(aside: string, path: string, self: LockHolder): Promise<void> {
  try {
    await link(aside, path);
  } catch (err) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((err as NodeJS.ErrnoException).code ?? ''))
      throw err;
    await writeFile(path, `${JSON.stringify(self)}\n`, { flag: 'wx', mode: 0o644 });
  }
}

function sameHolder(a: LockHolder, b: LockHolder): boolean {
  return a.pid === b.pid && a.host === b.host && a.start === b.start;
}

function lockError(statePath: string, err: unknown): StateError {
  return new StateError(
    'STATE_UNAVAILABLE',
    `state file ${statePath}: cannot take its lock ${lockPathOf(statePath)}: ${(err as Error).message}`,
    { cause: err },
  );
}

/** readLock reads a lock file and its inode, or undefined when there is none. */
async function readLock(path: string): Promise<{ holder: LockHolder | undefined; ino: number } | undefined> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { ino } = await file.stat();
    return { holder: parseHolder(await file.readFile('utf8')), ino };
  } finally {
    await file.close();
  }
}

/**
 * removeIfSame removes the lock file only if it is still the one judged (same inode): moved aside
 * first, so a lock another process created since is not deleted but put back. True when removed.
 */
async function removeIfSame(path: string, ino: number): Promise<boolean> {
  const moved = `${path}.${process.pid}.stale`;
  try {
    await rename(path, moved);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    if ((await stat(moved)).ino === ino) return true;
    // Another process's fresh lock: back where it was (it names a running process, judged next round).
    await link(moved, path).catch(() => {});
    return false;
  } finally {
    await unlink(moved).catch(() => {});
  }
}
