import { EventEmitter } from 'node:events';
import { REPEAT_WINDOW, sameDecision } from './journal-repeat.js';

/**
 * JournalSource says who caused a decision: the policy, the API, startup, `health` (what the
 * balancer learned of an instance: health transitions, ejections, recoveries, replacements; the
 * count is unchanged in those, `before` = `after`), or `provider`: a count another client set on
 * the engine (kubectl scale, the AWS console, a scheduled action), which the controller takes.
 */
export type JournalSource = 'policy' | 'api' | 'startup' | 'health' | 'leader' | 'reload' | 'provider';

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
  /**
   * Stable reason tokens (policy ReasonCodes; `ManualScale`, or `ManualScaleUnchanged` for a manual
   * request for the count the group already has).
   */
  reasons: string[];
  message: string;
  /** What the decision saw: metric averages, targets, ready count, etc. (of the newest repeat). */
  inputs: Record<string, unknown>;
  /**
   * How many times this decision was made in a row (see journal-repeat.ts), when more than once:
   * `time`, `message` and `inputs` are then the newest's, `seq` is new with each repeat (the entry
   * moves to the end, so `?since=` shows it again). Absent: once.
   */
  count?: number;
  /** With `count`: the ISO-8601 time of the first of them (`time` is the newest's). */
  firstTime?: string;
  /** With `count`: the seq the first of them got; it names the entry across its moves. */
  firstSeq?: number;
}

/** JournalQuery filters `entries()`. */
export interface JournalQuery {
  group?: string;
  /** Only entries with seq > since; then the oldest `limit` of them (a page), not the newest. */
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
 *
 * A repeat of one of the group's newest decisions (see journal-repeat.ts) is not appended: the
 * entry it repeats counts it (`count`, `firstTime`) and moves to the end with a new seq, and the
 * `entry` event announces it again, with the entry it replaces as `replaced`. So every repeat is
 * still announced (alerts, logs, the state store, the live stream see each), a client polling
 * `?since=` learns of it, and an outage's retries hold one entry, not one per retry.
 */
export class DecisionJournal extends EventEmitter<{
  entry: [entry: JournalEntry, replaced: JournalEntry | undefined];
}> {
  readonly #capacity: number;
  /** Grows by push up to the capacity, then wraps: the oldest kept is at #head. */
  #ring: JournalEntry[] = [];
  #head = 0;
  #seq = 0;
  /**
   * The entries append gave since the last restore, the ones `adopt` may renumber, each with the
   * order it was given in (from 1): a renumbered entry's seq no longer tells it.
   */
  #given = new WeakMap<JournalEntry, number>();
  #gave = 0;

  constructor(capacity = 1000) {
    super();
    this.#capacity = capacity;
  }

  /**
   * append records a decision and returns it with its sequence number: a new entry, or, for a
   * repeat, the entry it repeats with its count raised, moved to the end.
   */
  append(
    entry: Omit<JournalEntry, 'seq' | 'time' | 'count' | 'firstTime' | 'firstSeq'>,
    now: number,
  ): JournalEntry {
    const time = new Date(now).toISOString();
    const twin = this.#findRepeat(entry);
    if (twin !== undefined) {
      const prior = this.#at(twin);
      const full: JournalEntry = {
        seq: ++this.#seq,
        time,
        ...entry,
        count: (prior.count ?? 1) + 1,
        firstTime: prior.firstTime ?? prior.time,
        firstSeq: prior.firstSeq ?? prior.seq,
      };
      this.#moveToEnd(twin, full);
      this.#given.set(full, ++this.#gave);
      this.emit('entry', full, prior);
      return full;
    }
    const full: JournalEntry = { seq: ++this.#seq, time, ...entry };
    if (this.#ring.length < this.#capacity) this.#ring.push(full);
    else {
      this.#ring[this.#head] = full;
      this.#head = (this.#head + 1) % this.#ring.length;
    }
    this.#given.set(full, ++this.#gave);
    this.emit('entry', full, undefined);
    return full;
  }

  /** findRepeat is the position (0 the oldest) of the group's recent entry that `entry` repeats. */
  #findRepeat(entry: Omit<JournalEntry, 'seq' | 'time'>): number | undefined {
    let seen = 0;
    for (let i = this.#ring.length - 1; i >= 0 && seen < REPEAT_WINDOW; i--) {
      const kept = this.#at(i);
      if (kept.group !== entry.group) continue;
      if (sameDecision(kept, entry)) return i;
      seen++;
    }
    return undefined;
  }

  /**
   * moveToEnd removes the i-th kept entry and keeps `entry` as the newest: the entries after it
   * move up one, O(how far from the end it was), a few in practice (a repeat is of one of the group's
   * two newest).
   */
  #moveToEnd(i: number, entry: JournalEntry): void {
    const last = this.#ring.length - 1;
    for (let j = i; j < last; j++) this.#ring[this.#slot(j)] = this.#at(j + 1);
    this.#ring[this.#slot(last)] = entry;
  }

  /**
   * adopt gives `entry` (one this journal gave, see append) the seq the state store holds it at,
   * when that is higher than its own: a store shared with another writer (a deposed leader's
   * store, which the lease does not fence, written by its successor meanwhile) stores an entry
   * past the newest it holds (see StateStore.appendJournal). The entries given after it (whose
   * writes come after its own) move up as the store will move them, each above the one before, and
   * a repeat of it names it by its new seq (`firstSeq`); numbering goes on after the newest. So
   * the journal keeps its seqs in order and unique, as the store does, and its `events`, a repeat's
   * `firstSeq` and its next entries' seqs are the store's. Before, it kept its own numbers: after
   * one renumbering it showed every later decision one below (or more) the seq a standby, or its
   * successor, read for it. The entries are changed in place: those it returned, or announced, and
   * those a write on its way holds (which then carries the new seq) are one object each.
   * Ignored for an entry given before the last restore (the journal it was in is gone) and for a
   * seq not above its own (the stores never store an entry below its own seq).
   */
  adopt(entry: JournalEntry, seq: number): void {
    const order = this.#given.get(entry);
    if (order === undefined || !(seq > entry.seq)) return;
    const own = entry.seq;
    // The entries given after it are the newest kept (each is kept at the end when given): found
    // from the end, a few (those whose writes are on their way). Not by seq: an entry given before
    // it may have been renumbered past its own (when it was moved out by a repeat, say).
    let from = this.#ring.length;
    while (from > 0 && (this.#given.get(this.#at(from - 1)) ?? 0) > order) from--;
    entry.seq = seq;
    let floor = seq;
    for (let i = from; i < this.#ring.length; i++) {
      const later = this.#at(i);
      if (later.firstSeq === own) later.firstSeq = seq;
      if (later.seq <= floor) later.seq = floor + 1;
      floor = later.seq;
    }
    if (floor > this.#seq) this.#seq = floor;
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
    this.#given = new WeakMap();
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
    const found: JournalEntry[] = [];
    if (query.since !== undefined) {
      // A poller's page: the oldest `limit` after `since`, so the next page starts at the last seq
      // of this one. Before, the newest `limit`: 150 entries since the last poll and limit 100, and
      // the 50 oldest were never seen (nothing tells a gap: a repeat moves its entry to a new seq).
      for (let i = 0; i < this.#ring.length && found.length < limit; i++) {
        const entry = this.#at(i);
        if (matches(entry)) found.push(entry);
      }
      return found;
    }
    // The newest `limit` matches, found from the newest back; returned oldest first.
    for (let i = this.#ring.length - 1; i >= 0 && found.length < limit; i--) {
      const entry = this.#at(i);
      if (matches(entry)) found.push(entry);
    }
    return found.reverse();
  }

  /** capacity is how many decisions the journal keeps. */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * newestSeq is the last sequence number this journal gave (or restored), 0 before any: a
   * `since` past it was not given here (see `GET /api/scalability/events`).
   */
  get newestSeq(): number {
    return this.#seq;
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
    return this.#ring[this.#slot(i)]!;
  }

  /** slot is where in the ring the i-th kept decision is. */
  #slot(i: number): number {
    return (this.#head + i) % this.#ring.length;
  }

  #inOrder(): JournalEntry[] {
    return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
  }
}
