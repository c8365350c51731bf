import type { DecisionJournal, JournalEntry, JournalSource } from './journal.js';
import { StateError, type StateStore } from './state/index.js';

/**
 * DESIRED_SOURCES are the sources whose entries set a group's desired count (`after`); health and leader entries do not.
 * `provider` does: a count set on the engine by another client is what the group runs, and a
 * successor that restored the count before it would undo it.
 */
export const DESIRED_SOURCES: ReadonlySet<JournalSource> = new Set([
  'policy',
  'api',
  'startup',
  'reload',
  'provider',
]);

/** DESIRED_RETRY_MS is how often a desired count whose write failed is written again. */
const DESIRED_RETRY_MS = 1000;

/**
 * Persistence is what persistDecisions returns: call it to stop listening (it resolves once the
 * pending writes are done); `stored` is the write of one entry.
 */
export interface Persistence {
  (): Promise<void>;
  /**
   * stored is the write that covers `entry` (its journal line and the desired count it sets):
   * resolves once the store holds them, rejects with the store's error (STATE_FENCED when the
   * lease refused it, or when this controller no longer led and so did not write it). Undefined
   * for an entry this persistence never saw (appended before it listened, or after it stopped).
   */
  stored(entry: JournalEntry): Promise<void> | undefined;
}

/**
 * persistDecisions writes every new journal entry, and the desired count it sets, to the state
 * store (a repeat in place of the entry it repeats, see DecisionJournal) while `leading()` says this controller may write (a standby never does). Writes keep their
 * order; a failed one goes to `onError` and the next is still tried. A journal entry whose write
 * failed (not refused by the lease) is written again before any newer one, by the next write or
 * every second, the newest `capacity` of them; a desired count whose write failed is written again
 * every second, in the same order, until it or a newer count of its group lands; both while this
 * controller leads. Each entry written takes, in the journal, the seq the store holds it at
 * (DecisionJournal.adopt). The control API awaits an
 * entry's write (`stored`) before it answers that a change was accepted: a change answered before
 * it was stored was lost when the leader died (or was deposed) in between, and its successor
 * restored the previous count.
 */
export function persistDecisions(
  journal: DecisionJournal,
  state: StateStore,
  leading: () => boolean,
  onError: (err: unknown, entry: JournalEntry) => void,
): Persistence {
  let chain: Promise<void> = Promise.resolve();
  // Entries are appended synchronously before the caller sees them: a WeakMap keeps no old entry alive.
  const writes = new WeakMap<JournalEntry, Promise<void>>();
  // Each group's newest desired count whose write failed: written again (see DESIRED_RETRY_MS) until
  // it, or a newer count of the group, lands. Before, the store kept the previous count until the
  // group's next decision, and a successor restored it: a scale-in whose write failed was undone.
  const unsaved = new Map<string, number>();
  // Journal entries whose write failed (not refused by the lease), oldest first, each with the entry
  // it replaces in the store: written again, in order, before any newer one, by the next write or the
  // retry timer. Before, a failed write was dropped: a successor (or a restart) restored a journal
  // without the decisions made while the store was away, the ones an operator reads it for.
  let backlog: { entry: JournalEntry; replaced: JournalEntry | undefined }[] = [];
  // The journal takes the seq the store gave the entry: a store shared with another writer may
  // have stored it past its own (see DecisionJournal.adopt).
  const append = async (entry: JournalEntry, replaced: JournalEntry | undefined) =>
    journal.adopt(entry, await state.appendJournal(entry, replaced));
  const writeBacklog = async () => {
    while (backlog.length > 0) {
      const { entry, replaced } = backlog[0]!;
      await append(entry, replaced);
      backlog.shift();
    }
  };
  /** keep holds `entry` for a later write; a repeat takes the place of the entry it repeats. */
  const keep = (entry: JournalEntry, replaced: JournalEntry | undefined) => {
    const twin = replaced === undefined ? -1 : backlog.findIndex((b) => b.entry === replaced);
    // Its twin never reached the store: the store's own copy (if any) is the one to replace. It goes
    // last all the same, as the journal moved it: the store keeps the entries in seq order.
    const inStore = twin >= 0 ? backlog.splice(twin, 1)[0]!.replaced : replaced;
    backlog.push({ entry, replaced: inStore });
    // No more than the journal keeps: the oldest would be trimmed once written anyway.
    if (backlog.length > journal.capacity) backlog.splice(0, backlog.length - journal.capacity);
  };
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const scheduleRetry = () => {
    if (retryTimer || stopped) return;
    retryTimer = setTimeout(retryUnsaved, DESIRED_RETRY_MS);
    retryTimer.unref();
  };
  const retryUnsaved = () => {
    retryTimer = undefined;
    chain = chain.then(async () => {
      // A standby's writes are refused: the leader's count and journal are the store's now.
      if (stopped || !leading()) {
        backlog = [];
        return unsaved.clear();
      }
      try {
        await writeBacklog();
      } catch (err) {
        if ((err as { code?: string }).code === 'STATE_FENCED') backlog = [];
      }
      for (const [group, desired] of [...unsaved]) {
        try {
          await state.saveDesired(group, desired);
          if (unsaved.get(group) === desired) unsaved.delete(group);
        } catch (err) {
          if ((err as { code?: string }).code === 'STATE_FENCED') return unsaved.clear();
        }
      }
      if (unsaved.size > 0 || backlog.length > 0) scheduleRetry();
    });
  };
  const listener = (entry: JournalEntry, replaced: JournalEntry | undefined) => {
    if (!leading()) {
      // What this controller could not write while it led is its successor's journal's no more.
      backlog = [];
      const refused = Promise.reject(
        new StateError(
          'STATE_FENCED',
          `state: ${entry.group}'s decision not written: this controller no longer leads`,
        ),
      );
      refused.catch(() => {});
      writes.set(entry, refused);
      return;
    }
    const write = chain.then(async () => {
      const setsDesired = DESIRED_SOURCES.has(entry.source);
      let journaled = false;
      try {
        await writeBacklog();
        await append(entry, replaced);
        journaled = true;
        if (setsDesired) {
          await state.saveDesired(entry.group, entry.after);
          unsaved.delete(entry.group);
        }
      } catch (err) {
        onError(err, entry);
        if ((err as { code?: string }).code === 'STATE_FENCED') backlog = [];
        else {
          if (!journaled) keep(entry, replaced);
          if (setsDesired) unsaved.set(entry.group, entry.after);
          scheduleRetry();
        }
        throw err;
      }
    });
    // The chain goes on past a failure; whoever awaits `stored` gets it.
    chain = write.catch(() => {});
    writes.set(entry, write);
  };
  journal.on('entry', listener);
  const stop = () => {
    journal.off('entry', listener);
    stopped = true;
    clearTimeout(retryTimer);
    retryTimer = undefined;
    return chain;
  };
  return Object.assign(stop, { stored: (entry: JournalEntry) => writes.get(entry) });
}

/** restoreState loads persisted state into the journal and returns the desired counts to start from. */
export async function restoreState(
  state: StateStore,
  journal: DecisionJournal,
): Promise<Record<string, number>> {
  const saved = await state.load();
  journal.restore(saved.journal);
  return saved.desired;
}
