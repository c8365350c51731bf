import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

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
 * registry). They live in a folder of their own, `scaleplane-logs-XXXXXX` (mkdtemp) under logDir:
 * ids restart at `<group>-1` in every provider, so a shared folder had two controllers with a
 * group `web` (two users' demos, parallel test files) append to one `scaleplane-web-1.log` and cut
 * each other's file, and a new run append to an old run's. Adoptable instances do not use it: a
 * restarted controller must find their files by id in logDir.
 */
export class PipedLogFiles {
  #folder: string | undefined;
  readonly #outcomes = new Map<string, LogFileOutcome | 'running'>();

  constructor(readonly logDir: string) {}

  /** folder is the provider's folder once created (the first piped instance's start). */
  get folder(): string | undefined {
    return this.#folder;
  }

  /**
   * open returns the file for instance `id`, `<folder>/scaleplane-<id>.log`, creating the folder on
   * first use; it throws when the folder cannot be created (logDir missing or read-only).
   */
  open(id: string): string {
    this.#folder ??= mkdtempSync(join(this.logDir, 'scaleplane-logs-'));
    const file = join(this.#folder, `scaleplane-${id}.log`);
    this.#outcomes.set(file, 'running');
    return file;
  }

  /** ended records how the instance writing `file` ended. */
  ended(file: string, outcome: LogFileOutcome): void {
    if (this.#outcomes.has(file)) this.#outcomes.set(file, outcome);
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
