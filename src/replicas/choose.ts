/**
 * Read routing: which server serves this read? Pure; the router passes a snapshot of its replicas,
 * the session's last write and `now`.
 *
 *   1. candidates: eligible replicas whose probe is not older than staleAfter (minus an excluded one
 *      when retrying)
 *   2. none → primary (FallbackPrimary) or refuse (NoEligibleReplica), per `fallback`
 *   3. the session wrote:
 *        window mode   → primary while the write is younger than the window (WriteWindow)
 *        replayed mode → a candidate known to have replayed the write (WriteReplayed), else the best
 *                        candidate with a check on it first (VerifyReplay), or primary if checks are off
 *   4. best candidate: least lag (lags within lagTolerance count as equal), then least in flight,
 *      then rotate by `tieBreak` so equal replicas share the load
 */

/** ReplicaView is the router's live picture of one replica, as data. */
export interface ReplicaView {
  readonly name: string;
  eligible: boolean;
  /** ms; null = unknown. */
  lag: number | null;
  inFlight: number;
  /** Replayed position (LSN / GTID) as last seen, or null. */
  position: string | null;
  /** ms timestamp of the sample behind `eligible`. */
  probedAt: number;
}

/** SessionWrite is the last write of the current session, if any. */
export interface SessionWrite {
  /** Position token of the write on the primary, when known. */
  position: string | null;
  /** ms timestamp of the write. */
  at: number;
}

/** ReadYourWritesMode: `replayed` (replica that has the write, else primary), `window`, or `off`. */
export type ReadYourWritesMode = 'replayed' | 'window' | 'off';

/** RouteConfig is the part of the router options that read routing needs. */
export interface RouteConfig {
  fallback: 'primary' | 'fail';
  readYourWrites: ReadYourWritesMode;
  /** ms reads stay on the primary after a session write in window mode. */
  writeWindow: number;
  /** In replayed mode, ask a replica whether it has the write (true) or go to the primary (false). */
  verifyReplay: boolean;
  /** ms after which a probe sample no longer counts. */
  staleAfter: number;
  /** ms of lag difference treated as equal when ranking replicas. */
  lagTolerance: number;
}

/** RouteReason is a stable token for why a read went where it went. */
export type RouteReason =
  | 'LeastLag'
  | 'WriteReplayed'
  | 'VerifyReplay'
  | 'WriteWindow'
  | 'WriteNotReplayed'
  | 'NoReplicas'
  | 'FallbackPrimary'
  | 'NoEligibleReplica';

/** ReadDecision is where one read goes. `fallback` marks reads the primary serves only for want of a replica. */
export type ReadDecision =
  | { target: 'replica'; replica: ReplicaView; reason: 'LeastLag' | 'WriteReplayed'; verify: false }
  | { target: 'replica'; replica: ReplicaView; reason: 'VerifyReplay'; verify: true }
  | { target: 'primary'; reason: 'WriteWindow' | 'WriteNotReplayed' | 'NoReplicas'; fallback: false }
  | { target: 'primary'; reason: 'FallbackPrimary'; fallback: true }
  | { target: 'fail'; reason: 'NoEligibleReplica' };

/** Covers tells whether a replayed position includes a write's position; driver-specific. */
export type Covers = (replayed: string, write: string) => boolean;

/** chooseRead routes one read. */
export function chooseRead(
  replicas: readonly ReplicaView[],
  write: SessionWrite | null,
  config: RouteConfig,
  now: number,
  covers: Covers,
  tieBreak: number,
  exclude?: ReplicaView,
): ReadDecision {
  if (replicas.length === 0) return { target: 'primary', reason: 'NoReplicas', fallback: false };
  const candidates = replicas.filter(
    (r) => r.eligible && r !== exclude && now - r.probedAt <= config.staleAfter,
  );
  if (candidates.length === 0) {
    return config.fallback === 'fail'
      ? { target: 'fail', reason: 'NoEligibleReplica' }
      : { target: 'primary', reason: 'FallbackPrimary', fallback: true };
  }
  if (write !== null && config.readYourWrites !== 'off') {
    if (config.readYourWrites === 'window') {
      if (now - write.at < config.writeWindow)
        return { target: 'primary', reason: 'WriteWindow', fallback: false };
    } else if (write.position === null) {
      return { target: 'primary', reason: 'WriteNotReplayed', fallback: false };
    } else {
      const position = write.position;
      const replayed = candidates.filter((r) => r.position !== null && covers(r.position, position));
      if (replayed.length > 0)
        return {
          target: 'replica',
          replica: best(replayed, config, tieBreak),
          reason: 'WriteReplayed',
          verify: false,
        };
      if (!config.verifyReplay) return { target: 'primary', reason: 'WriteNotReplayed', fallback: false };
      return {
        target: 'replica',
        replica: best(candidates, config, tieBreak),
        reason: 'VerifyReplay',
        verify: true,
      };
    }
  }
  return {
    target: 'replica',
    replica: best(candidates, config, tieBreak),
    reason: 'LeastLag',
    verify: false,
  };
}

/** best ranks non-empty candidates: least lag band, least in flight, then rotation. */
function best(candidates: readonly ReplicaView[], config: RouteConfig, tieBreak: number): ReplicaView {
  if (candidates.length === 1) return candidates[0]!;
  let minLag = Number.POSITIVE_INFINITY;
  for (const r of candidates) if (r.lag !== null && r.lag < minLag) minLag = r.lag;
  let minInFlight = Number.POSITIVE_INFINITY;
  const band: ReplicaView[] = [];
  for (const r of candidates) {
    if (r.lag === null || r.lag > minLag + config.lagTolerance) continue;
    if (r.inFlight < minInFlight) {
      minInFlight = r.inFlight;
      band.length = 0;
    }
    if (r.inFlight === minInFlight) band.push(r);
  }
  if (band.length === 0) return candidates[0]!;
  return band[tieBreak % band.length]!;
}
