import type { DecisionJournal, JournalEntry, JournalSource } from './journal.js';
import type { StateStore } from './state/index.js';

/** Sources whose entries set a group's desired count (`after`); health and leader entries do not. */
const DESIRED_SOURCES: ReadonlySet<JournalSource> = new Set(['policy', 'api', 'startup', 'reload']);

/**
 * persistDecisions writes every new journal entry, and the desired count it sets, to the state
 * store while `leading()` says this controller may write (a standby never does). Writes keep their
 * order; a failed one goes to `onError` and the next is still tried. The returned function stops
 * listening and resolves once the pending writes are done.
 */
export function persistDecisions(
  journal: DecisionJournal,
  state: StateStore,
  leading: () => boolean,
  onError: (err: unknown, entry: JournalEntry) => void,
): () => Promise<void> {
  let chain: Promise<void> = Promise.resolve();
  const listener = (entry: JournalEntry) => {
    if (!leading()) return;
    chain = chain.then(async () => {
      try {
        await state.appendJournal(entry);
        if (DESIRED_SOURCES.has(entry.source)) await state.saveDesired(entry.group, entry.after);
      } catch (err) {
        onError(err, entry);
      }
    });
  };
  journal.on('entry', listener);
  return () => {
    journal.off('entry', listener);
    return chain;
  };
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
