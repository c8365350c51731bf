import type { OutlierConfig } from '../config/types.js';

/** OutlierOutcome is how one proxied attempt went, as outlier detection sees it. */
export type OutlierOutcome = 'success' | '5xx' | 'gateway';

/** OutlierCounters are one backend's consecutive-failure run lengths. */
export interface OutlierCounters {
  consecutive5xx: number;
  consecutiveGateway: number;
}

/** OutlierTrip is the stable reason a backend crossed a threshold. */
export type OutlierTrip = 'Consecutive5xx' | 'ConsecutiveGatewayErrors';

/**
 * countOutcome folds one outcome into the counters (in place: it runs on every response) and says
 * which threshold, if any, it just crossed. A success resets both runs; a gateway failure (connect
 * error, reset, timeout) counts on its own run and also as a 5xx, as Envoy counts a 502/503/504.
 * A threshold of 0 never trips.
 */
export function countOutcome(
  counters: OutlierCounters,
  outcome: OutlierOutcome,
  config: Pick<OutlierConfig, 'consecutive5xx' | 'consecutiveGatewayErrors'>,
): OutlierTrip | undefined {
  if (outcome === 'success') {
    counters.consecutive5xx = 0;
    counters.consecutiveGateway = 0;
    return undefined;
  }
  counters.consecutive5xx++;
  if (outcome === 'gateway') {
    counters.consecutiveGateway++;
    if (config.consecutiveGatewayErrors > 0 && counters.consecutiveGateway >= config.consecutiveGatewayErrors)
      return 'ConsecutiveGatewayErrors';
  } else counters.consecutiveGateway = 0;
  if (config.consecutive5xx > 0 && counters.consecutive5xx >= config.consecutive5xx) return 'Consecutive5xx';
  return undefined;
}

/** EjectionInput is what `ejectionDecision` looks at. */
export interface EjectionInput {
  /** Members of the group that are not draining. */
  readonly total: number;
  /** Of those, how many are ejected right now. */
  readonly ejected: number;
  /** Times this backend was ejected before. */
  readonly previousEjections: number;
  /** When this backend last came back from an ejection (ms), or undefined. */
  readonly lastRecovery: number | undefined;
  readonly now: number;
}

/** EjectionReason is the stable reason token of an ejection decision. */
export type EjectionReason = 'Ejected' | 'MaxEjectionPercent';

/** EjectionDecision says whether to eject and until when. */
export interface EjectionDecision {
  readonly eject: boolean;
  readonly reason: EjectionReason;
  /** How many ejections this one is (1 for the first). */
  readonly ejections: number;
  /** Ejection length, ms. */
  readonly duration: number;
}

/** maxEjectable is how many of `total` members may be ejected at once: the percent, but at least one. */
export function maxEjectable(total: number, percent: number): number {
  return Math.max(1, Math.floor((total * percent) / 100));
}

/**
 * ejectionDecision decides an ejection after a trip: refused when `maxEjectionPercent` of the group
 * is already out; otherwise for `baseEjectionTime × n` (n-th ejection), capped by
 * `maxEjectionTime`. The count starts over once a backend stayed in for `maxEjectionTime`.
 */
export function ejectionDecision(input: EjectionInput, config: OutlierConfig): EjectionDecision {
  const fresh = input.lastRecovery !== undefined && input.now - input.lastRecovery >= config.maxEjectionTime;
  const ejections = (fresh ? 0 : input.previousEjections) + 1;
  const duration = Math.min(config.baseEjectionTime * ejections, config.maxEjectionTime);
  if (input.ejected + 1 > maxEjectable(input.total, config.maxEjectionPercent)) {
    return { eject: false, reason: 'MaxEjectionPercent', ejections: ejections - 1, duration: 0 };
  }
  return { eject: true, reason: 'Ejected', ejections, duration };
}

/**
 * inPanic says whether a group has too few usable members (healthy and not ejected) out of its
 * non-draining ones: below `panicThreshold` percent the balancer uses all of them, as Envoy does,
 * since sending to maybe-bad instances beats refusing everything.
 */
export function inPanic(usable: number, total: number, panicThreshold: number): boolean {
  return total > 0 && usable * 100 < total * panicThreshold;
}
