/**
 * A pure circuit breaker for the Redis tier. `closed` lets every command through and counts
 * consecutive failures; at `failureThreshold` it opens. `open` refuses everything for `openMs`,
 * then turns `half-open`, which lets exactly one probe through: success closes, failure reopens.
 * A reconnect of the client moves an open breaker straight to half-open, so recovery does not wait
 * out the open window. Callers pass `now` and keep the returned state.
 */

/** BreakerConfig tunes the breaker. */
export interface BreakerConfig {
  /** Consecutive failures that open the breaker. @defaultValue 5 */
  failureThreshold: number;
  /** ms the breaker stays open before a probe. @defaultValue 1000 */
  openMs: number;
}

/** BreakerState is the breaker's memory between commands. */
export interface BreakerState {
  status: 'closed' | 'open' | 'half-open';
  failures: number;
  openedAt: number;
  /** A half-open probe is in flight; nothing else passes until it reports. */
  probing: boolean;
}

/** BreakerReason says why a transition happened, for events and tests. */
export type BreakerReason =
  | 'Allowed'
  | 'Refused'
  | 'ProbeAllowed'
  | 'ProbeInFlight'
  | 'FailureCounted'
  | 'Opened'
  | 'Reopened'
  | 'Closed'
  | 'Reconnected'
  | 'Unchanged';

/** BreakerStep is one transition: the next state and its reason. */
export interface BreakerStep {
  state: BreakerState;
  reason: BreakerReason;
}

/** initialBreakerState is a closed breaker with no failures. */
export function initialBreakerState(): BreakerState {
  return { status: 'closed', failures: 0, openedAt: 0, probing: false };
}

/** breakerAllow decides whether one command may go to Redis at `now`. */
export function breakerAllow(
  state: BreakerState,
  now: number,
  config: BreakerConfig,
): BreakerStep & { allowed: boolean } {
  if (state.status === 'closed') return { allowed: true, state, reason: 'Allowed' };
  if (state.status === 'open' && now - state.openedAt < config.openMs)
    return { allowed: false, state, reason: 'Refused' };
  if (state.probing) return { allowed: false, state, reason: 'ProbeInFlight' };
  return { allowed: true, state: { ...state, status: 'half-open', probing: true }, reason: 'ProbeAllowed' };
}

/** breakerSuccess records a command that worked. */
export function breakerSuccess(state: BreakerState): BreakerStep {
  if (state.status === 'closed' && state.failures === 0) return { state, reason: 'Unchanged' };
  const reason = state.status === 'closed' ? 'Unchanged' : 'Closed';
  return { state: initialBreakerState(), reason };
}

/** breakerFailure records a command that failed or timed out at `now`. */
export function breakerFailure(state: BreakerState, now: number, config: BreakerConfig): BreakerStep {
  if (state.status === 'half-open')
    return {
      state: { status: 'open', failures: state.failures + 1, openedAt: now, probing: false },
      reason: 'Reopened',
    };
  if (state.status === 'open') return { state, reason: 'Unchanged' };
  const failures = state.failures + 1;
  if (failures >= config.failureThreshold)
    return { state: { status: 'open', failures, openedAt: now, probing: false }, reason: 'Opened' };
  return { state: { ...state, failures }, reason: 'FailureCounted' };
}

/** breakerReconnected lets the next command probe at once after the client reconnected. */
export function breakerReconnected(state: BreakerState): BreakerStep {
  if (state.status !== 'open') return { state, reason: 'Unchanged' };
  return { state: { ...state, status: 'half-open', probing: false }, reason: 'Reconnected' };
}
