/**
 * ProviderFailureRule says when failing provider operations are worth an alert: one of them failed
 * at least `minFailures` times in a row, over at least `after` ms, with no success of it between.
 */
export interface ProviderFailureRule {
  /** How long an operation must keep failing. @defaultValue 30000 */
  after: number;
  /** How many failures in a row it takes, so one slow failure never pages on its own. @defaultValue 3 */
  minFailures: number;
}

/** defaultProviderFailureRule: 3 failures in a row over 30 s (a Kubernetes watch's backoff reaches 30 s). */
export const defaultProviderFailureRule: ProviderFailureRule = { after: 30_000, minFailures: 3 };

/** FailureStreak is one operation failing with no success since `since`. */
export interface FailureStreak {
  readonly operation: string;
  /** Epoch ms of its first failure in a row. */
  readonly since: number;
  readonly failures: number;
  /** The last failure's one-line message (the server's reason). */
  readonly lastError: string;
}

/** ProviderFailureState is the failing operations of one group's provider, by name. */
export type ProviderFailureState = ReadonlyMap<string, FailureStreak>;

/**
 * ProviderFailureReason says why: `PersistentFailure` (an operation fails per the rule: fire),
 * `TransientFailure` (failing, not yet for long enough), `Recovered` (this success ended the last
 * failing streak: resolve), `Healthy` (nothing failing).
 */
export type ProviderFailureReason = 'PersistentFailure' | 'TransientFailure' | 'Recovered' | 'Healthy';

/** ProviderFailureVerdict is what `judgeProviderOutcome` decided, and the state to pass next time. */
export interface ProviderFailureVerdict {
  readonly firing: boolean;
  readonly reason: ProviderFailureReason;
  /** The streak that makes it fire (the longest running). */
  readonly streak?: FailureStreak;
  /** The streak this success ended, if it ended one. */
  readonly ended?: FailureStreak;
  readonly state: ProviderFailureState;
}

/**
 * judgeProviderOutcome folds one operation outcome (`error` set when it failed) into `state` at
 * `now` and says whether the provider alert should fire. A success of an operation ends its own
 * streak only: reads that succeed while every scale write is refused (RBAC without `patch`) keep it
 * firing. It fires while any streak meets the rule and resolves once none does.
 */
export function judgeProviderOutcome(
  state: ProviderFailureState,
  outcome: { operation: string; error?: { message: string } },
  now: number,
  rule: ProviderFailureRule = defaultProviderFailureRule,
): ProviderFailureVerdict {
  const next = new Map(state);
  const previous = state.get(outcome.operation);
  if (outcome.error) {
    next.set(outcome.operation, {
      operation: outcome.operation,
      since: previous?.since ?? now,
      failures: (previous?.failures ?? 0) + 1,
      lastError: outcome.error.message,
    });
  } else {
    next.delete(outcome.operation);
  }
  const ended = !outcome.error && previous ? { ended: previous } : {};
  const persistent = [...next.values()]
    .filter((s) => s.failures >= rule.minFailures && now - s.since >= rule.after)
    .sort((a, b) => a.since - b.since);
  if (persistent.length > 0)
    return { firing: true, reason: 'PersistentFailure', streak: persistent[0]!, ...ended, state: next };
  if (next.size > 0) return { firing: false, reason: 'TransientFailure', ...ended, state: next };
  return {
    firing: false,
    reason: previous && !outcome.error ? 'Recovered' : 'Healthy',
    ...ended,
    state: next,
  };
}
