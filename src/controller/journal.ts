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
  /**
   * ISO-8601 time, on the decision clock (clock.ts), every entry alike: the wall clock as of the
   * controller's start plus the monotonic time since. It reads as the wall clock and matches it
   * unless the system clock was stepped while the controller ran (then it is off by that step
   * until a restart). Chosen over Date.now so that the entries' spacing is the time the decisions'
   * windows saw (why a scale-down waited shows as 5 min between two entries, whatever NTP did)
   * and one journal has one time base. Nothing times a window by it: restored entries (a
   * restart, a new leader) are shown, never measured.
   */
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
 * They are kept in a ring: an append past the capacity overwrites the oldest in O(1). (An array's
 * shift was O(n) past V8's small-array fast path: 100,000 appends to a full journal of 50,000 took
 * 9.1 s, of 100,000 13.6 s.)
 */
export class DecisionJournal extends EventEmitter<{ entry: [JournalEntry] }> {
  readonly #capacity: number;
  /** Grows by push up to the capacity, then wraps: the oldest kept is at #head. */
  #ring: JournalEntry[] = [];
  #head = 0;
  #seq = 0;

  constructor(capacity = 1000) {
    super();
    this.#capacity = capacity;
  }

  /** append records a decision and returns it with its sequence number. */
  append(entry: Omit<JournalEntry, 'seq' | 'time'>, now: number): JournalEntry {
    const full: JournalEntry = { seq: ++this.#seq, time: new Date(now).toISOString(), ...entry };
    if (this.#ring.length < this.#capacity) this.#ring.push(full);
    else {
      this.#ring[this.#head] = full;
      this.#head = (this.#head + 1) % this.#ring.length;
    }
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
    this.#ring = [];
    this.#head = 0;
    for (const entry of entries.slice(-this.#capacity)) this.#ring.push(entry);
    for (const entry of entries) if (entry.seq > this.#seq) this.#seq = entry.seq;
  }

  /** entries returns matching decisions, oldest first. */
  entries(query: JournalQuery = {}): JournalEntry[] {
    const matches = (e: JournalEntry) =>
      (query.group === undefined || e.group === query.group) && e.seq > (query.since ?? 0);
    const limit = query.limit ?? 100;
    if (limit === 0) return [];
    if (!Number.isInteger(limit) || limit < 0) {
      // Not a count (the API refuses these): as slice(-limit) of every match did.
      return this.#inOrder().filter(matches).slice(-limit);
    }
    // The newest `limit` matches, found from the newest back; returned oldest first.
    const found: JournalEntry[] = [];
    for (let i = this.#ring.length - 1; i >= 0 && found.length < limit; i--) {
      const entry = this.#at(i);
      if (matches(entry)) found.push(entry);
    }
    return found.reverse();
  }

  /** last returns the newest decision for a group. */
  last(group: string): JournalEntry | undefined {
    for (let i = this.#ring.length - 1; i >= 0; i--) {
      const entry = this.#at(i);
      if (entry.group === group) return entry;
    }
    return undefined;
  }

  /** at is the i-th kept decision, 0 the oldest. */
  #at(i: number): JournalEntry {
    return this.#ring[(this.#head + i) % this.#ring.length]!;
  }

  #inOrder(): JournalEntry[] {
    return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
  }
}
