import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert } from '../../alerts/types.js';
import type { JournalEntry } from '../journal.js';
import { type JournalTail, journalAfter } from '../journal-tail.js';
import { checkFileContents } from './file-contents.js';
import { type LockHolder, StateFileLock } from './file-lock.js';
import {
  type ControllerState,
  type LocalInstanceRecord,
  type SavedSize,
  StateError,
  type StateStore,
} from './types.js';

/** FileStateOptions configures a FileState. */
export interface FileStateOptions {
  /** The JSON file. */
  path: string;
  /** Journal entries kept. @defaultValue 1000 */
  journalSize?: number;
}

interface FileContents {
  version: 1;
  desired: Record<string, number>;
  journal: JournalEntry[];
  instances: Record<string, Record<string, LocalInstanceRecord>>;
  /** Absent in files written before sizes were kept. */
  sizes?: Record<string, SavedSize>;
  /** Alerts sent as firing and not yet resolved, by key; absent in files written before they were kept. */
  alerts?: Record<string, Alert>;
}

/**
 * FileState is the embedded state store: one JSON file, replaced atomically (written to a
 * temporary file, then renamed over), so a controller killed mid-write leaves the old or the new
 * file, never half of one. Every change re-reads the file first, so the store holds no stale copy
 * when another process (a previous leader) wrote it last.
 */
export class FileState implements StateStore {
  readonly backend = 'file';
  readonly path: string;
  readonly #journalSize: number;
  /** Changes run one after another: each is read → change → write. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Held from lock() until close(): no other process uses the file meanwhile. */
  #lock: StateFileLock | undefined;

  constructor(options: FileStateOptions) {
    this.path = options.path;
    this.#journalSize = options.journalSize ?? 1000;
  }

  /**
   * lock takes the state file's exclusive lock (`<file>.lock`, see StateFileLock) until close():
   * a second controller on the file without a lease would adopt this one's instances and write
   * over its state. Rejects StateError `STATE_LOCKED` naming the file and the pid that holds it;
   * resolves the holder whose stale lock it took over (a process killed or crashed), if any.
   */
  async lock(): Promise<LockHolder | undefined> {
    this.#lock ??= await StateFileLock.acquire(this.path);
    return this.#lock.tookOverFrom;
  }

  async load(): Promise<ControllerState> {
    const { desired, journal } = await this.#read();
    return { desired, journal };
  }

  async loadJournal(): Promise<JournalEntry[]> {
    return (await this.#read()).journal;
  }

  /** loadJournalAfter reads the file whole (it is one JSON document) and keeps the entries after `seq`. */
  async loadJournalAfter(seq: number): Promise<JournalTail> {
    return journalAfter(await this.loadJournal(), seq);
  }

  saveDesired(group: string, desired: number): Promise<void> {
    return this.#change((c) => {
      c.desired[group] = desired;
    });
  }

  /** appendJournal stores the entry at its own seq (the file allocates none) and resolves it. */
  async appendJournal(entry: JournalEntry, replaced?: JournalEntry): Promise<number> {
    await this.#change((c) => {
      if (replaced !== undefined) c.journal = c.journal.filter((e) => e.seq !== replaced.seq);
      c.journal.push(entry);
      if (c.journal.length > this.#journalSize) c.journal.splice(0, c.journal.length - this.#journalSize);
    });
    return entry.seq;
  }

  async getSize(group: string): Promise<SavedSize | undefined> {
    await this.#queue.catch(() => {});
    return (await this.#read()).sizes?.[group];
  }

  putSize(group: string, saved: SavedSize | undefined): Promise<void> {
    return this.#change((c) => {
      const sizes = { ...c.sizes };
      if (saved === undefined) delete sizes[group];
      else sizes[group] = saved;
      c.sizes = sizes;
    });
  }

  async openAlerts(): Promise<Alert[]> {
    await this.#queue.catch(() => {});
    return Object.values((await this.#read()).alerts ?? {});
  }

  putAlert(key: string, alert: Alert | undefined): Promise<void> {
    return this.#change((c) => {
      const alerts = { ...c.alerts };
      if (alert === undefined) delete alerts[key];
      else alerts[key] = alert;
      c.alerts = alerts;
    });
  }

  async list(group: string): Promise<LocalInstanceRecord[]> {
    await this.#queue.catch(() => {});
    return Object.values((await this.#read()).instances[group] ?? {});
  }

  put(group: string, record: LocalInstanceRecord): Promise<void> {
    return this.#change((c) => {
      c.instances[group] = { ...c.instances[group], [record.id]: record };
    });
  }

  remove(group: string, id: string): Promise<void> {
    return this.#change((c) => {
      const records = c.instances[group];
      if (records) delete records[id];
    });
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => {});
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  #change(apply: (contents: FileContents) => void): Promise<void> {
    const run = this.#queue
      .catch(() => {})
      .then(async () => {
        const contents = await this.#read();
        apply(contents);
        const tmp = `${this.path}.${process.pid}.tmp`;
        try {
          // Synced before the rename: after a power loss the state file is the old one or the new
          // one, never an empty one (XFS, ext4 with noauto_da_alloc keep the rename, not the data).
          const file = await open(tmp, 'w', 0o600);
          try {
            await file.writeFile(`${JSON.stringify(contents)}\n`);
            await file.sync();
          } finally {
            await file.close();
          }
          await rename(tmp, this.path);
        } catch (err) {
          // A disk that filled up keeps the last good file; the partial copy would only hold space.
          await unlink(tmp).catch(() => {});
          throw err;
        }
        // The rename is on disk once the folder is: a decision answered as stored stays stored.
        await syncFolder(dirname(this.path));
      });
    this.#queue = run;
    return run;
  }

  async #read(): Promise<FileContents> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: 1, desired: {}, journal: [], instances: {}, sizes: {}, alerts: {} };
      throw new StateError('STATE_UNAVAILABLE', `state file ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let parsed: Partial<FileContents>;
    try {
      parsed = JSON.parse(text) as Partial<FileContents>;
    } catch (err) {
      throw new StateError(
        'STATE_CORRUPT',
        `state file ${this.path} is not valid JSON; move it away to start afresh`,
        {
          cause: err,
        },
      );
    }
    const problem = checkFileContents(parsed);
    if (problem !== undefined) {
      throw new StateError(
        'STATE_CORRUPT',
        `state file ${this.path}: ${problem}; fix it or move it away to start afresh`,
      );
    }
    return {
      version: 1,
      desired: parsed.desired ?? {},
      journal: parsed.journal ?? [],
      instances: parsed.instances ?? {},
      sizes: parsed.sizes ?? {},
      alerts: parsed.alerts ?? {},
    };
  }
}

/** syncFolder flushes a folder's entries (a rename into it) to disk; a no-op where folders cannot be synced. */
async function syncFolder(path: string): Promise<void> {
  let folder: FileHandle | undefined;
  try {
    folder = await open(path, 'r');
    await folder.sync();
  } catch (err) {
    // Windows cannot open a folder as a file; some file systems refuse to sync one (EINVAL).
    if (!['EISDIR', 'EINVAL', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await folder?.close();
  }
}
