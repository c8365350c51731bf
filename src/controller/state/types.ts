import type { Alert } from '../../alerts/types.js';
import type { LocalInstanceRecord, LocalInstanceRegistry, SavedSize } from '../../providers/index.js';
import type { JournalEntry } from '../journal.js';
import type { JournalTail } from '../journal-tail.js';

/** ControllerState is what a controller persists so that it, or a successor, continues where it was. */
export interface ControllerState {
  /** Desired count per group, as last decided. */
  desired: Record<string, number>;
  /** The newest decisions, oldest first. */
  journal: JournalEntry[];
}

/**
 * StateStore persists controller state (desired counts, the decision journal) and, as the local
 * provider's instance registry, the instances a successor adopts and the size a resize put in
 * force. Only the leader writes.
 */
export interface StateStore extends LocalInstanceRegistry {
  getSize(group: string): Promise<SavedSize | undefined>;
  putSize(group: string, saved: SavedSize | undefined): Promise<void>;
  readonly backend: 'file' | 'redis' | 'postgres';
  /** load reads the persisted state (empty when there is none yet). */
  load(): Promise<ControllerState>;
  /**
   * loadJournal reads the persisted journal alone, oldest first, as `load` does: what a standby
   * answers events and its live stream from (the desired counts it would also read are not needed).
   */
  loadJournal(): Promise<JournalEntry[]>;
  /**
   * loadJournalAfter reads the persisted journal's entries with a seq above `seq` alone, as
   * `journalAfter(loadJournal(), seq)` tells them: what a standby's live stream polls once it holds
   * the journal up to `seq`. Redis and PostgreSQL send only those entries (none when nothing is
   * new); the state file is read whole and filtered.
   */
  loadJournalAfter(seq: number): Promise<JournalTail>;
  /** saveDesired records a group's desired count. */
  saveDesired(group: string, desired: number): Promise<void>;
  /**
   * appendJournal records a decision, keeping the newest `journalSize`. With `replaced` (a repeat,
   * see DecisionJournal), `entry` takes the place of that one (found by its seq, or its stored
   * form): it is removed, and `entry` kept as the newest, in one write. Redis and PostgreSQL
   * allocate the seq it is stored at in that write: its own, unless the store holds that seq or a
   * newer one already (another controller's, in a store the lease does not fence), then the
   * newest's plus one; an entry they hold already (the same fields apart from the seq) is not
   * stored again. Resolves the seq the entry is stored at (held at, when it was held already; the
   * state file's: its own), which the writer adopts (see DecisionJournal.adopt).
   */
  appendJournal(entry: JournalEntry, replaced?: JournalEntry): Promise<number>;
  /**
   * openAlerts lists the alerts whose firing the leader sent and whose resolve it has not: a
   * successor resolves those that no longer hold (the receivers would keep them open for good).
   */
  openAlerts(): Promise<Alert[]>;
  /** putAlert records `alert` as open (its firing was sent), or, undefined, `key` as closed (its resolve was). */
  putAlert(key: string, alert: Alert | undefined): Promise<void>;
  /** close disconnects; safe to call twice. */
  close(): Promise<void>;
  /**
   * fencedByLease is true when the store lives in the lease's database and refuses, in the write
   * itself, every write whose fencing token is not the lease's current one (see `fence`).
   */
  readonly fencedByLease?: boolean;
  /**
   * fence sets the fencing token later writes carry: the leader's, or undefined while standing by
   * (then every write is refused). With `holder`, Redis also refuses a write while the lease key
   * holds another tenure with the same token (a failover that lost the lease's latest writes). Only stores with `fencedByLease`. A refused write rejects a
   * StateError `STATE_FENCED` and is first told to the `onFenced` listener.
   */
  fence?(token: number | undefined, holder?: string): void;
  /** onFenced sets who is told of each write the lease refused (the leadership, which steps down). */
  onFenced?(listener: (err: StateError) => void): void;
}

export type { LocalInstanceRecord, SavedSize };

/**
 * StateError is a state store that cannot be used or holds something unreadable, a write the
 * lease refused (`STATE_FENCED`: its fencing token is no longer the current one), or a state file
 * another running controller holds (`STATE_LOCKED`, without a lease).
 */
export class StateError extends Error {
  readonly code: 'STATE_UNAVAILABLE' | 'STATE_CORRUPT' | 'STATE_FENCED' | 'STATE_LOCKED';
  constructor(code: StateError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateError';
    this.code = code;
  }
}
