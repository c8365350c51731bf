/**
 * Replica eligibility: may this replica serve reads, given its latest lag sample? Pure; the caller
 * passes the previous state and `now`, and keeps the returned state.
 *
 *   unreachable               → Unreachable
 *   lag unknown (null)        → LagUnknown      (MariaDB's NULL Seconds_Behind_Master lands here, never 0)
 *   lag > maxLag              → LagAboveMax     (lag == maxLag still qualifies)
 *   lag ≤ maxLag, was fine    → LagWithinMax
 *   lag ≤ maxLag, was out     → Holding until it has stayed within the bound for holdTime, then
 *                               LagWithinMax (a replica that flaps around the bound does not flap reads)
 *   first sample ever         → LagWithinMax at once: there is nothing to recover from
 */

/** EligibilityReason is a stable token for a replica's state. */
export type EligibilityReason =
  | 'NotProbed'
  | 'Unreachable'
  | 'LagUnknown'
  | 'LagAboveMax'
  | 'Holding'
  | 'LagWithinMax';

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
  if (sample.lag === null || Number.isNaN(sample.lag))
    return { eligible: false, reason: 'LagUnknown', goodSince: null };
  if (sample.lag > config.maxLag) return { eligible: false, reason: 'LagAboveMax', goodSince: null };
  const goodSince = previous.goodSince ?? now;
  if (previous.eligible || previous.reason === 'NotProbed')
    return { eligible: true, reason: 'LagWithinMax', goodSince };
  if (now - goodSince >= config.holdTime) return { eligible: true, reason: 'LagWithinMax', goodSince };
  return { eligible: false, reason: 'Holding', goodSince };
}

/** markUnreachable is what a failed query on the replica teaches before the next probe does. */
export function markUnreachable(): ReplicaHealth {
  return { eligible: false, reason: 'Unreachable', goodSince: null };
}
