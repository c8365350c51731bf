import type { JournalEntry } from './journal.js';

/**
 * JournalTail is what a bounded read of a stored journal after a seq answers (see
 * StateStore.loadJournalAfter): the entries newer than that seq, and enough about the rest to tell
 * whether it is still the journal that seq came from, without reading the rest.
 */
export interface JournalTail {
  /** The entries with a seq above the one asked for, oldest first. */
  entries: JournalEntry[];
  /**
   * The newest seq the journal holds, 0 when it holds none. Below the seq asked for: the journal
   * went back (a store that lost its data, a journal started afresh).
   */
  newestSeq: number;
  /**
   * The time of the entry at the seq asked for, while the journal holds one: another time than the
   * reader's is another decision numbered the same (a successor numbered past an unstored entry).
   */
  timeAtSeq?: string;
}

/**
 * journalAfter is the tail after `seq` of a journal read whole (`entries`, in any order): what a
 * store's bounded read answers, for a store that can only read it whole (the state file) and as
 * the reference the others are tested against.
 */
export function journalAfter(entries: readonly JournalEntry[], seq: number): JournalTail {
  const sorted = [...entries].sort((a, b) => a.seq - b.seq);
  const at = sorted.find((e) => e.seq === seq);
  return {
    entries: sorted.filter((e) => e.seq > seq),
    newestSeq: sorted.at(-1)?.seq ?? 0,
    ...(at !== undefined && { timeAtSeq: at.time }),
  };
}
