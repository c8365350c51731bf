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
 * order; a failed one goes to `onError` and the next is still tried. The control API awaits an
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
      try {
        await state.appendJournal(entry, replaced);
        if (DESIRED_SOURCES.has(entry.source)) await state.saveDesired(entry.group, entry.after);
      } catch (err) {
        onError(err, entry);
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
