import { EventEmitter } from 'node:events';
import {
  type Controller,
  DecisionJournal,
  type JournalEntry,
  type JournalTail,
  journalAfter,
} from '../controller/index.js';

/**
 * JournalMark is where a follower of a journal stands: the seq of the newest entry it delivered
 * (or its hellos hold), and that entry's time, which tells another journal's entry of the same seq.
 */
export interface JournalMark {
  seq: number;
  /** Absent for an empty journal. */
  time?: string;
}

/** FollowStep is one step of following a journal: what is new, and where to follow from next. */
export interface FollowStep {
  /** The entries after the mark, oldest first (none when `restarted`). */
  fresh: JournalEntry[];
  mark: JournalMark;
  /**
   * The journal is not the one the mark came from: its newest seq is below the mark (a state store
   * that lost its data, a deposed leader's last entry that never reached the store), or its entry
   * at the mark's seq is another decision (a successor numbered its own from the store's newest,
   * past an entry this follower showed). Nothing after the mark can be told new: start again from
   * a fresh snapshot.
   */
  restarted: boolean;
}

/**
 * followJournal is one step of following a journal read whole (`entries`, in any order): the
 * entries after `mark`, and the newest one's mark. Without a mark (a follower's first read) nothing
 * is fresh: the mark is the journal's newest, what a snapshot of it holds. A repeat moves its entry
 * to a new seq (see DecisionJournal), so it comes again, as the leader's own `entry` event gives it.
 */
export function followJournal(entries: readonly JournalEntry[], mark: JournalMark | undefined): FollowStep {
  const newest = [...entries].sort((a, b) => a.seq - b.seq).at(-1);
  const head: JournalMark = newest === undefined ? { seq: 0 } : { seq: newest.seq, time: newest.time };
  if (mark === undefined) return { fresh: [], mark: head, restarted: false };
  const step = followTail(journalAfter(entries, mark.seq), mark);
  return step.restarted ? { ...step, mark: head } : step;
}

/**
 * followTail is one step of following a journal from a read of its tail after the mark's seq (see
 * StateStore.loadJournalAfter), as followJournal is of a whole read: the same entries fresh, the
 * same restarts. A restart keeps the mark: the tail does not tell the journal's newest entry, which a
 * fresh snapshot (a whole read) gives.
 */
export function followTail(tail: JournalTail, mark: JournalMark): FollowStep {
  const wentBack = tail.newestSeq < mark.seq;
  const renumbered = tail.timeAtSeq !== undefined && mark.time !== undefined && tail.timeAtSeq !== mark.time;
  if (wentBack || renumbered) return { fresh: [], mark, restarted: true };
  const newest = tail.entries.at(-1);
  return {
    fresh: tail.entries,
    mark: newest === undefined ? mark : { seq: newest.seq, time: newest.time },
    restarted: false,
  };
}

/**
 * withFresh is the leader's journal as last read (`view`) with the entries read after it: a repeat's
 * twin (the entry of its firstSeq) leaves it, as the store removed it when the repeat was written.
 */
function withFresh(view: DecisionJournal, fresh: readonly JournalEntry[]): void {
  if (fresh.length === 0) return;
  const moved = new Set(fresh.flatMap((e) => (e.firstSeq === undefined ? [] : [e.firstSeq])));
  const kept = view.entries({ limit: view.capacity }).filter((e) => !moved.has(e.firstSeq ?? e.seq));
  view.restore([...kept, ...fresh]);
}

/** JournalView is what a stream's hello is built from. */
export type JournalView = Pick<DecisionJournal, 'entries'>;

/** DecisionFeedEvents: each decision once, in seq order; `restart` when a fresh snapshot is due. */
export interface DecisionFeedEvents {
  decision: [entry: JournalEntry];
  restart: [];
}

/** DecisionFeedOptions wires a DecisionFeed. */
export interface DecisionFeedOptions {
  controller: Pick<Controller, 'journal' | 'followsLeader' | 'readLeaderJournal' | 'readLeaderJournalAfter'>;
  /** Pause between reads of the leader's journal while standing by, ms. @defaultValue 1000 */
  intervalMs?: number;
  /** Told when a read of the leader's journal fails (once until one succeeds again). */
  logger?: { warn(obj: object, msg?: string): void };
}

/**
 * DecisionFeed gives the live stream the decisions `GET /api/scalability/events` answers, as they
 * come: while leading, this controller's own journal's, at once; while standing by with a state
 * store, the leader's, read from the store every `intervalMs` while someone listens (the store
 * offers no change signal; the standby's routing reads it so too): whole for the hello, then only
 * the entries after the newest read (none when nothing is new; before, the whole journal, 1000
 * entries by default, every second), whole again when that journal went back. A change of role
 * switches the source at the seq the stream stands at (see followJournal): a standby that takes
 * over delivers the restored entries it had not read yet, then its own; a deposed leader goes on
 * from the store's, without its own `LostLeadership` (its successor's entries take those seqs).
 */
export class DecisionFeed extends EventEmitter<DecisionFeedEvents> {
  readonly #controller: DecisionFeedOptions['controller'];
  readonly #intervalMs: number;
  readonly #logger: DecisionFeedOptions['logger'];
  #mode: 'own' | 'leader' = 'own';
  #mark: JournalMark | undefined;
  /** The leader's journal as last read (leader mode); undefined until read. */
  #view: DecisionJournal | undefined;
  #reading: Promise<void> | undefined;
  #failing = false;
  #timer: NodeJS.Timeout | undefined;
  #started = false;

  constructor(options: DecisionFeedOptions) {
    super();
    this.#controller = options.controller;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#logger = options.logger;
  }

  /** start follows the journals until close(); safe to call twice. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#controller.journal.on('entry', this.#onEntry);
    this.#timer = setInterval(() => this.#poll(), this.#intervalMs);
    this.#timer.unref();
    this.#sync();
  }

  /** close stops following; safe to call twice. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#controller.journal.off('entry', this.#onEntry);
  }

  /**
   * current is the journal a hello is built from now, consistent with the decisions to come: the
   * own journal, or the leader's as last read; undefined while that was not read yet (await ready()).
   */
  current(): JournalView | undefined {
    this.#sync();
    return this.#mode === 'own' ? this.#controller.journal : this.#view;
  }

  /** ready reads the leader's journal when current() has none; rejects when the read fails. */
  async ready(): Promise<void> {
    this.#sync();
    if (this.#mode === 'leader' && this.#view === undefined) await this.#read();
  }

  readonly #onEntry = (entry: JournalEntry) => {
    this.#sync();
    // Standing by: the own journal's entries (a deposed leader's LostLeadership, a takeover's
    // entries before it leads) are not the leader's journal; the store's are followed instead.
    if (this.#mode !== 'own') return;
    if (this.#mark !== undefined && entry.seq <= this.#mark.seq) return;
    this.#mark = { seq: entry.seq, time: entry.time };
    this.emit('decision', entry);
  };

  /** sync switches the source to what the controller's role says, at the mark. */
  #sync(): void {
    const following = this.#controller.followsLeader;
    if (following && this.#mode === 'own') {
      this.#mode = 'leader';
      this.#view = undefined;
    } else if (!following && this.#mode === 'leader') {
      this.#mode = 'own';
      this.#view = undefined;
      const own = this.#controller.journal;
      this.#deliver(followJournal(own.entries({ limit: own.capacity }), this.#mark));
    } else if (this.#mode === 'own' && this.#mark === undefined) {
      const own = this.#controller.journal;
      this.#mark = followJournal(own.entries({ limit: 1 }), undefined).mark;
    }
  }

  #poll(): void {
    this.#sync();
    if (this.#mode !== 'leader') return;
    if (this.listenerCount('decision') === 0) {
      // Nobody to tell: no reads. The next listener's hello starts from a fresh read.
      this.#view = undefined;
      this.#mark = undefined;
      return;
    }
    this.#read().catch(() => {});
  }

  #read(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        await this.#readLeader();
        this.#failing = false;
      } catch (err) {
        if (!this.#failing)
          this.#logger?.warn(
            { err },
            `live stream: cannot read the leader's journal: ${(err as Error).message}`,
          );
        this.#failing = true;
        throw err;
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  /**
   * readLeader reads the leader's journal: after the mark alone once a whole read gave the view,
   * whole for the first read, and whole again when the tail tells that the journal went back (a
   * store that lost its data, a successor that numbered past an entry shown): then a restart.
   */
  async #readLeader(): Promise<void> {
    const view = this.#view;
    const mark = this.#mark;
    let restarted = false;
    if (view !== undefined && mark !== undefined) {
      const tail = await this.#controller.readLeaderJournalAfter(mark.seq);
      // Took over meanwhile: the own journal holds what the store did (see sync).
      if (tail === undefined || this.#mode !== 'leader') return this.#sync();
      // Switched away and back meanwhile: the next read starts from the new state.
      if (this.#view !== view || this.#mark !== mark) return;
      const step = followTail(tail, mark);
      if (!step.restarted) {
        withFresh(view, step.fresh);
        return this.#deliver(step);
      }
      restarted = true;
    }
    const entries = await this.#controller.readLeaderJournal();
    if (entries === undefined || this.#mode !== 'leader') return this.#sync();
    const whole = new DecisionJournal(this.#controller.journal.capacity);
    whole.restore(entries);
    this.#view = whole;
    // Told by the tail: a restart, whatever the store holds by this read (it may hold more again).
    const step = followJournal(entries, restarted ? undefined : this.#mark);
    this.#deliver(restarted ? { ...step, restarted: true } : step);
  }

  #deliver(step: FollowStep): void {
    this.#mark = step.mark;
    if (step.restarted) this.emit('restart');
    else for (const entry of step.fresh) this.emit('decision', entry);
  }
}
