import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LOG_FOLDER_PREFIX, STALE_LOG_FOLDER_AGE_MS, sweepStaleLogFolders } from './logsweep.js';

/**
 * KEPT_FAILED_LOG_FILES is how many failed instances' files a provider keeps, the newest. Each
 * file may reach 64 MiB (plus its 1 MiB `.1`), and a crash-looping group fails again and again
 * with a new id each time: unbounded, every crash of a crash loop kept one more file for the whole
 * run. 20 shows a failure's pattern over its last several crashes, in at most 20 x 65 MiB = 1.3 GiB.
 */
export const KEPT_FAILED_LOG_FILES = 20;

/** PipedLogFilesOptions tunes a `PipedLogFiles`. */
export interface PipedLogFilesOptions {
  /** Failed instances' files kept, the newest. @defaultValue KEPT_FAILED_LOG_FILES (20) */
  keptFailed?: number;
  /** Clock for the age of stale folders. @defaultValue Date.now */
  now?: () => number;
  /** Age past which a dead controller's folder is swept. @defaultValue STALE_LOG_FOLDER_AGE_MS (24 h) */
  staleAfterMs?: number;
}

/** OpenedLogFile is what `PipedLogFiles.open` gives. */
export interface OpenedLogFile {
  file: string;
  /** Stale folders of dead controllers removed when this provider's folder was created. */
  swept: string[];
}

/** LogFileOutcome is how a piped instance ended, which decides whether its file is kept. */
export type LogFileOutcome = 'stopped' | 'failed';

/** LogCleanup is what `PipedLogFiles.cleanUp` did. */
export interface LogCleanup {
  /** The provider's folder, or undefined when no piped instance ever got a file. */
  folder: string | undefined;
  /** Files removed: those of instances that stopped cleanly (and their cut `.1` parts). */
  removed: string[];
  /** Files kept: those of instances that crashed or failed to start, whose output a user needs. */
  kept: string[];
  /** Whether the folder itself was removed (nothing kept in it). */
  folderRemoved: boolean;
}

/**
 * PipedLogFiles owns the log files of one provider's piped instances (those without an instance
 * registry). They live in a folder of their own, `scaleplane-logs-<pid>-XXXXXX` (mkdtemp) under logDir:
 * ids restart at `<group>-1` in every provider, so a shared folder had two controllers with a
 * group `web` (two users' demos, parallel test files) append to one `scaleplane-web-1.log` and cut
 * each other's file, and a new run append to an old run's. Adoptable instances do not use it: a
 * restarted controller must find their files by id in logDir.
 */
export class PipedLogFiles {
  #folder: string | undefined;
  readonly #outcomes = new Map<string, LogFileOutcome | 'running'>();
  /** Files of failed instances still on disk, oldest first. */
  readonly #failed: string[] = [];
  readonly #keptFailed: number;
  readonly #now: () => number;
  readonly #staleAfterMs: number;

  constructor(
    readonly logDir: string,
    options: PipedLogFilesOptions = {},
  ) {
    this.#keptFailed = options.keptFailed ?? KEPT_FAILED_LOG_FILES;
    if (!Number.isInteger(this.#keptFailed) || this.#keptFailed < 0) {
      throw new RangeError(`keptFailed must be an integer >= 0, got ${options.keptFailed}`);
    }
    this.#now = options.now ?? Date.now;
    this.#staleAfterMs = options.staleAfterMs ?? STALE_LOG_FOLDER_AGE_MS;
  }

  /** keptFailed is how many failed instances' files are kept. */
  get keptFailed(): number {
    return this.#keptFailed;
  }

  /** folder is the provider's folder once created (the first piped instance's start). */
  get folder(): string | undefined {
    return this.#folder;
  }

  /**
   * open returns the file for instance `id`, `<folder>/scaleplane-<id>.log`, creating the folder on
   * first use; it throws when the folder cannot be created (logDir missing or read-only). Creating
   * it first sweeps the stale folders of dead controllers (`sweepStaleLogFolders`): a SIGKILLed
   * controller never closes, so nothing else would ever remove its folder. The pid in the name is
   * what tells a dead controller's folder from a live one's.
   */
  open(id: string): OpenedLogFile {
    let swept: string[] = [];
    if (this.#folder === undefined) {
      swept = sweepStaleLogFolders(this.logDir, this.#now(), this.#staleAfterMs);
      this.#folder = mkdtempSync(join(this.logDir, `${LOG_FOLDER_PREFIX}${process.pid}-`));
    }
    const file = join(this.#folder, `scaleplane-${id}.log`);
    this.#outcomes.set(file, 'running');
    const at = this.#failed.indexOf(file);
    if (at >= 0) this.#failed.splice(at, 1);
    return { file, swept };
  }

  /**
   * ended records how the instance writing `file` ended. A failure past the newest `keptFailed`
   * removes the oldest failed instances' files (and their `.1`), returned, so that a crash loop
   * does not fill the disk.
   */
  ended(file: string, outcome: LogFileOutcome): string[] {
    if (!this.#outcomes.has(file)) return [];
    this.#outcomes.set(file, outcome);
    if (outcome !== 'failed') return [];
    if (!this.#failed.includes(file)) this.#failed.push(file);
    const dropped: string[] = [];
    while (this.#failed.length > this.#keptFailed) {
      const oldest = this.#failed.shift()!;
      rmSync(oldest, { force: true });
      rmSync(`${oldest}.1`, { force: true });
      this.#outcomes.delete(oldest);
      dropped.push(oldest);
    }
    return dropped;
  }

  /**
   * cleanUp removes the files of instances that stopped cleanly, then the folder if nothing is
   * left in it; files of failed instances (and of any still running, which a clean close has none
   * of) stay. Safe to call twice; a file already gone is not an error.
   */
  cleanUp(): LogCleanup {
    const folder = this.#folder;
    const removed: string[] = [];
    const kept: string[] = [];
    for (const [file, outcome] of this.#outcomes) {
      if (outcome !== 'stopped') {
        kept.push(file);
        continue;
      }
      rmSync(file, { force: true });
      rmSync(`${file}.1`, { force: true });
      removed.push(file);
      this.#outcomes.delete(file);
    }
    let folderRemoved = false;
    if (folder !== undefined && kept.length === 0) {
      try {
        rmdirSync(folder);
        folderRemoved = true;
        this.#folder = undefined;
      } catch {
        // Not empty (a user put something there) or already gone: left as it is.
      }
    }
    return { folder, removed, kept, folderRemoved };
  }
}
