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
 * order; a failed one goes to `onError` and the next is still tried. A desired count whose write
 * failed (not refused by the lease) is written again every second, in the same order, until it or
 * a newer count of its group lands, while this controller leads. The control API awaits an
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
      // A standby's writes are refused: the leader's count is the store's now.
      if (stopped || !leading()) return unsaved.clear();
      for (const [group, desired] of [...unsaved]) {
        try {
          await state.saveDesired(group, desired);
          if (unsaved.get(group) === desired) unsaved.delete(group);
        } catch (err) {
          if ((err as { code?: string }).code === 'STATE_FENCED') return unsaved.clear();
        }
      }
      if (unsaved.size > 0) scheduleRetry();
    });
  };
  const listener = (entry: JournalEntry, replaced: JournalEntry | undefined) => {
    if (!leading()) {
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
      try {
        await state.appendJournal(entry, replaced);
        if (setsDesired) {
          await state.saveDesired(entry.group, entry.after);
          unsaved.delete(entry.group);
        }
      } catch (err) {
        onError(err, entry);
        if (setsDesired && (err as { code?: string }).code !== 'STATE_FENCED') {
          unsaved.set(entry.group, entry.after);
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
