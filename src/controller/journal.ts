import { EventEmitter } from 'node:events';

/**
 * JournalSource says who caused a decision: the policy, the API, startup, or `health` (what the
 * balancer learned of an instance: health transitions, ejections, recoveries, replacements; the
 * count is unchanged in those, `before` = `after`).
 */
export type JournalSource = 'policy' | 'api' | 'startup' | 'health' | 'leader' | 'reload';

/** JournalEntry is one scaling decision: when, which group, from what inputs, before, after and why. */
export interface JournalEntry {
  /** Monotonic sequence number, for `?since=`. */
  seq: number;
  /** ISO-8601 time. */
  time: string;
  group: string;
  source: JournalSource;
  before: number;
  after: number;
  /** Stable reason tokens (policy ReasonCodes, or `ManualScale`). */
  reasons: string[];
  message: string;
  /** What the decision saw: metric averages, targets, ready count, etc. */
  inputs: Record<string, unknown>;
}

/** JournalQuery filters `entries()`. */
export interface JournalQuery {
  group?: string;
  /** Only entries with seq > since. */
  since?: number;
  /** Newest N. @defaultValue 100 */
  limit?: number;
}

/**
 * DecisionJournal keeps the last `capacity` decisions in memory and announces each new one
 * (`entry` event) so the console, the API and later the dashboard can show why scaling happened.
 */
export class DecisionJournal extends EventEmitter<{ entry: [JournalEntry] }> {
  readonly #capacity: number;
  readonly #entries: JournalEntry[] = [];
  #seq = 0;

  constructor(capacity = 1000) {
    super();
    this.#capacity = capacity;
  }

  /** append records a decision and returns it with its sequence number. */
  append(entry: Omit<JournalEntry, 'seq' | 'time'>, now: number): JournalEntry {
    const full: JournalEntry = { seq: ++this.#seq, time: new Date(now).toISOString(), ...entry };
    this.#entries.push(full);
    if (this.#entries.length > this.#capacity) this.#entries.shift();
    this.emit('entry', full);
    return full;
  }

  /**
   * restore replaces the kept decisions with persisted ones (a restart or a new leader), without
   * announcing them; numbering continues after the newest.
   */
  restore(entries: readonly JournalEntry[]): void {
    // No spread of the entries as arguments: past ~120,000 of them (a journal_size that large)
    // V8 threw "Maximum call stack size exceeded", and with a state store every start failed so.
    this.#entries.length = 0;
    for (const entry of entries.slice(-this.#capacity)) this.#entries.push(entry);
    for (const entry of entries) if (entry.seq > this.#seq) this.#seq = entry.seq;
  }

  /** entries returns matching decisions, oldest first. */
  entries(query: JournalQuery = {}): JournalEntry[] {
    const matching = this.#entries.filter(
      (e) => (query.group === undefined || e.group === query.group) && e.seq > (query.since ?? 0),
    );
    // `slice(-0)` is the whole list: a limit of 0 asks for none.
    const limit = query.limit ?? 100;
    return limit === 0 ? [] : matching.slice(-limit);
  }

  /** last returns the newest decision for a group. */
  last(group: string): JournalEntry | undefined {
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      if (this.#entries[i]!.group === group) return this.#entries[i];
    }
    return undefined;
  }
}
