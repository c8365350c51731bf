/**
 * PostgreSQL replay lag, pure. `now() - pg_last_xact_replay_timestamp()` alone grows forever on an idle
 * primary, so it is corrected two ways:
 *
 *   1. caught up: the replica has replayed everything the primary had written when the round began
 *      (replay LSN ≥ the primary's LSN read first) → lag 0
 *   2. behind: lag is at most the age of the newest primary sample the replica has fully replayed
 *      (the WAL it still lacks was written after that sample), and at most the age of the last
 *      replayed commit; take the smaller of the two upper bounds
 *
 * "Replayed up to" allows for WAL page headers: after a segment switch (pg_switch_wal(), archive_timeout)
 * or a record that ends a page, the primary's insert position sits just past the next page's header
 * while the replica stops at the page boundary, and an idle primary would leave it there for good.
 */

/** LsnSample is the primary's WAL position at a moment, in the router's clock. */
export interface LsnSample {
  at: number;
  lsn: bigint;
}

/** PgReplicaReading is what one probe read on a replica. */
export interface PgReplicaReading {
  inRecovery: boolean;
  replayLsn: bigint | null;
  /** ms since the last replayed commit (by the primary's clock); null before the first one. */
  timestampLag: number | null;
  /** Bytes per WAL page (`wal_block_size`). @defaultValue 8192 */
  walBlockSize?: number;
}

// SizeOfXLogLongPHD on 64-bit builds, the largest page header; no WAL record is that short.
const MAX_PAGE_HEADER = 40n;

/**
 * replayedUpTo tells whether a replica that replayed up to `replay` has everything the primary had
 * written at `lsn`. Equal positions aside, a replay position on a page boundary covers an `lsn` no
 * further than one page header into that page: nothing but the header lies between them.
 */
export function replayedUpTo(replay: bigint, lsn: bigint, walBlockSize = 8192): boolean {
  if (replay >= lsn) return true;
  return replay % BigInt(walBlockSize) === 0n && lsn - replay <= MAX_PAGE_HEADER;
}

/** PgLagSource says which bound produced the estimate. */
export type PgLagSource = 'caught-up' | 'wal-history' | 'replay-timestamp' | 'not-a-replica' | 'unknown';

/** parseLsn turns `16/B374D848` into a comparable number. */
export function parseLsn(text: string): bigint {
  const slash = text.indexOf('/');
  if (slash <= 0) throw new RangeError(`not an LSN: ${text}`);
  return (BigInt(`0x${text.slice(0, slash)}`) << 32n) + BigInt(`0x${text.slice(slash + 1)}`);
}

/** lsnCovers tells whether a replica that replayed up to `replayed` has the write at `write`. */
export function lsnCovers(replayed: string, write: string): boolean {
  return parseLsn(replayed) >= parseLsn(write);
}

/** estimatePgLag bounds a replica's replay lag in ms; null when nothing bounds it. */
export function estimatePgLag(
  replica: PgReplicaReading,
  primaryLsn: bigint | null,
  history: readonly LsnSample[],
  now: number,
): { lag: number | null; source: PgLagSource } {
  if (!replica.inRecovery) return { lag: null, source: 'not-a-replica' };
  if (replica.replayLsn === null) return { lag: null, source: 'unknown' };
  const replay = replica.replayLsn;
  const block = replica.walBlockSize;
  if (primaryLsn !== null && replayedUpTo(replay, primaryLsn, block)) return { lag: 0, source: 'caught-up' };
  let historyBound: number | null = null;
  for (let i = history.length - 1; i >= 0; i--) {
    const sample = history[i]!;
    if (replayedUpTo(replay, sample.lsn, block)) {
      historyBound = Math.max(0, now - sample.at);
      break;
    }
  }
  const timestampBound = replica.timestampLag === null ? null : Math.max(0, replica.timestampLag);
  if (historyBound === null && timestampBound === null) return { lag: null, source: 'unknown' };
  if (timestampBound === null || (historyBound !== null && historyBound <= timestampBound))
    return { lag: historyBound, source: 'wal-history' };
  return { lag: timestampBound, source: 'replay-timestamp' };
}

/**
 * appendLsnSample adds the primary's latest position and forgets samples older than `keep` ms, except
 * the newest of those: it still bounds a replica stuck behind all the others.
 */
export function appendLsnSample(history: readonly LsnSample[], sample: LsnSample, keep: number): LsnSample[] {
  const cutoff = sample.at - keep;
  let firstKept = history.findIndex((s) => s.at >= cutoff);
  if (firstKept === -1) firstKept = history.length;
  const next = history.slice(Math.max(0, firstKept - 1));
  const last = next[next.length - 1];
  // For one position only its latest moment matters (it gives the tightest bound), so an idle primary
  // keeps one sample instead of filling the window.
  if (last !== undefined && last.lsn === sample.lsn) next[next.length - 1] = sample;
  else next.push(sample);
  return next;
}
