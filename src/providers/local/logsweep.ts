import { lstatSync, readdirSync, rmSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/**
 * STALE_LOG_FOLDER_AGE_MS is how long a dead controller's log folder is kept: it holds the output
 * of the instances that failed in that run (a SIGKILLed controller had no close to remove the
 * rest), which a user looking into the crash needs for a while, but not for ever.
 */
export const STALE_LOG_FOLDER_AGE_MS = 24 * 60 * 60 * 1000;

/** LOG_FOLDER_PREFIX starts the name of every provider's folder: `scaleplane-logs-<pid>-XXXXXX`. */
export const LOG_FOLDER_PREFIX = 'scaleplane-logs-';

/** LogFolderFacts is what is known of one `scaleplane-logs-*` entry in logDir. */
export interface LogFolderFacts {
  name: string;
  /** Whether it is a directory (not a symlink, not a file). */
  isDirectory: boolean;
  /** Its owner's uid. */
  uid: number;
  /** Newest mtime of the folder and the files in it (ms since epoch). */
  newestMtimeMs: number;
  /** Whether the pid in its name is a running process; undefined when the name has no pid. */
  ownerAlive: boolean | undefined;
}

/** SweepReason says why a folder is swept or kept. */
export type SweepReason =
  | 'stale'
  | 'not-a-folder'
  | 'no-pid'
  | 'other-user'
  | 'owner-alive'
  | 'ours'
  | 'young';

/**
 * ownerPidOf reads the controller pid from a folder name `scaleplane-logs-<pid>-XXXXXX`; undefined
 * for other names (the pre-pid `scaleplane-logs-XXXXXX`, whose owner cannot be told).
 */
export function ownerPidOf(name: string): number | undefined {
  const match = /^scaleplane-logs-(\d+)-[^/]+$/.exec(name);
  if (!match) return undefined;
  const pid = Number(match[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * decideSweep says whether a log folder left in logDir may be removed: only a folder of this user,
 * named for a controller pid that is not running (and not this process), untouched for
 * `maxAgeMs`. Anything else is kept, with the reason.
 */
export function decideSweep(
  facts: LogFolderFacts,
  self: { uid: number; pid: number },
  now: number,
  maxAgeMs = STALE_LOG_FOLDER_AGE_MS,
): { sweep: boolean; reason: SweepReason } {
  if (!facts.isDirectory) return { sweep: false, reason: 'not-a-folder' };
  const pid = ownerPidOf(facts.name);
  if (pid === undefined) return { sweep: false, reason: 'no-pid' };
  if (facts.uid !== self.uid) return { sweep: false, reason: 'other-user' };
  if (pid === self.pid) return { sweep: false, reason: 'ours' };
  if (facts.ownerAlive !== false) return { sweep: false, reason: 'owner-alive' };
  if (now - facts.newestMtimeMs < maxAgeMs) return { sweep: false, reason: 'young' };
  return { sweep: true, reason: 'stale' };
}

/**
 * isAlive tells whether process `pid` runs: signal 0 checks without sending. EPERM is a live
 * process of another user; only ESRCH is a dead one.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** newestMtime is the latest mtime of `folder` (already stat'ed) and the entries right in it. */
function newestMtime(folder: string, stat: Stats): number {
  let newest = stat.mtimeMs;
  for (const name of readdirSync(folder)) {
    try {
      newest = Math.max(newest, lstatSync(join(folder, name)).mtimeMs);
    } catch {
      // Gone meanwhile: it does not make the folder younger.
    }
  }
  return newest;
}

/**
 * sweepStaleLogFolders removes, from logDir, the `scaleplane-logs-<pid>-*` folders of this user's
 * controllers that died without closing (SIGKILL, OOM) more than `maxAgeMs` ago; returns the
 * folders removed. Errors on one entry (gone meanwhile, no permission) skip it.
 */
export function sweepStaleLogFolders(
  logDir: string,
  now: number,
  maxAgeMs = STALE_LOG_FOLDER_AGE_MS,
): string[] {
  const self = { uid: process.getuid?.() ?? -1, pid: process.pid };
  const swept: string[] = [];
  let names: string[];
  try {
    names = readdirSync(logDir);
  } catch {
    return swept;
  }
  for (const name of names) {
    if (!name.startsWith(LOG_FOLDER_PREFIX)) continue;
    const folder = join(logDir, name);
    try {
      const stat = lstatSync(folder);
      const pid = ownerPidOf(name);
      const facts: LogFolderFacts = {
        name,
        isDirectory: stat.isDirectory(),
        uid: stat.uid,
        // Only what decideSweep would get to: a live pid or another user's folder needs no listing.
        newestMtimeMs: stat.isDirectory() && stat.uid === self.uid ? newestMtime(folder, stat) : stat.mtimeMs,
        ownerAlive: pid === undefined ? undefined : isAlive(pid),
      };
      if (!decideSweep(facts, self, now, maxAgeMs).sweep) continue;
      rmSync(folder, { recursive: true, force: true });
      swept.push(folder);
    } catch {
      // Gone meanwhile or not ours to read: left as it is.
    }
  }
  return swept;
}
