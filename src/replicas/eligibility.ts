/**
 * Replica eligibility: may this replica serve reads, given its latest lag sample? Pure; the caller
 * passes the previous state and `now`, and keeps the returned state.
 *
 *   unreachable               → Unreachable
 *   writable (not a replica)  → Writable        (the primary itself, or a promoted replica: whatever its lag)
 *   lag unknown (null)        → LagUnknown      (MariaDB's NULL Seconds_Behind_Master lands here, never 0)
 *   lag > maxLag              → LagAboveMax     (lag == maxLag still qualifies)
 *   lag ≤ maxLag, was fine    → LagWithinMax
 *   lag ≤ maxLag, was out     → Holding until it has stayed within the bound for holdTime, then
 *                               LagWithinMax (a replica that flaps around the bound does not flap reads)
 *   first sample ever         → LagWithinMax at once: there is nothing to recover from
 *
 * While the primary cannot be reached, lag measured against it only counts the outage (PostgreSQL: the
 * age of the last primary position replayed; MariaDB: the last heartbeat's age), so
 * `evaluateWithoutPrimary` decides instead:
 *
 *   unreachable               → Unreachable
 *   eligible at the last sample
 *   the primary answered      → PrimaryUnreachable, still eligible: no write can commit meanwhile, so
 *                               it stays as fresh as anything that can answer
 *   otherwise                 → kept out (LagAboveMax, LagUnknown, Holding …); a hold starts over once
 *                               lag can be measured again
 */

/** EligibilityReason is a stable token for a replica's state. */
export type EligibilityReason =
  | 'NotProbed'
  | 'Unreachable'
  | 'LagUnknown'
  | 'LagAboveMax'
  | 'Holding'
  | 'LagWithinMax'
  | 'PrimaryUnreachable'
  | 'Writable';

/** ReplicaHealth is what eligibility remembers about one replica between samples. */
export interface ReplicaHealth {
  eligible: boolean;
  reason: EligibilityReason;
  /** ms timestamp since which every sample was within the bound, or null. */
  goodSince: number | null;
}

/** LagSample is one probe's finding for one replica. */
export interface LagSample {
  reachable: boolean;
  /** ms; null = unknown. */
  lag: number | null;
  /** The server takes writes: it is no replica. */
  writable?: boolean;
}

/** EligibilityConfig bounds freshness. */
export interface EligibilityConfig {
  /** ms. @defaultValue 5000 */
  maxLag: number;
  /** ms a recovered replica must stay within maxLag before it gets reads again. @defaultValue 3000 */
  holdTime: number;
}

/** initialReplicaHealth is a replica nobody has probed yet: no reads. */
export const initialReplicaHealth: ReplicaHealth = { eligible: false, reason: 'NotProbed', goodSince: null };

/** evaluateReplica folds one sample into a replica's health. */
export function evaluateReplica(
  previous: ReplicaHealth,
  sample: LagSample,
  config: EligibilityConfig,
  now: number,
): ReplicaHealth {
  if (!sample.reachable) return { eligible: false, reason: 'Unreachable', goodSince: null };
  if (sample.writable === true) return { eligible: false, reason: 'Writable', goodSince: null };
  if (sample.lag === null || Number.isNaN(sample.lag))
    return { eligible: false, reason: 'LagUnknown', goodSince: null };
  if (sample.lag > config.maxLag) return { eligible: false, reason: 'LagAboveMax', goodSince: null };
  const goodSince = previous.goodSince ?? now;
  if (previous.eligible || previous.reason === 'NotProbed')
    return { eligible: true, reason: 'LagWithinMax', goodSince };
  if (now - goodSince >= config.holdTime) return { eligible: true, reason: 'LagWithinMax', goodSince };
  return { eligible: false, reason: 'Holding', goodSince };
}

/**
 * evaluateWithoutPrimary folds one sample taken while the primary was unreachable: the sample's lag is
 * ignored, the replica keeps the verdict of the last lag measured with the primary reachable.
 */
export function evaluateWithoutPrimary(previous: ReplicaHealth, sample: LagSample): ReplicaHealth {
  if (!sample.reachable) return { eligible: false, reason: 'Unreachable', goodSince: null };
  if (sample.writable === true) return { eligible: false, reason: 'Writable', goodSince: null };
  if (previous.eligible)
    return { eligible: true, reason: 'PrimaryUnreachable', goodSince: previous.goodSince };
  // Never probed with the primary up: its lag is unknown. A hold must count only time lag was measured.
  return {
    eligible: false,
    reason: previous.reason === 'NotProbed' ? 'LagUnknown' : previous.reason,
    goodSince: null,
  };
}

/** markUnreachable is what a failed query on the replica teaches before the next probe does. */
export function markUnreachable(): ReplicaHealth {
  return { eligible: false, reason: 'Unreachable', goodSince: null };
}
