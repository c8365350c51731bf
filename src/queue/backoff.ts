/**
 * Pure schedules for retrying jobs and reconnecting to brokers. Randomness is injected so tests
 * pin the jitter; nothing here reads a clock.
 */

/** BackoffOptions shapes an exponential schedule with jitter. */
export interface BackoffOptions {
  /** First delay in ms. @defaultValue 1000 */
  initial: number;
  /** Multiplier per attempt. @defaultValue 2 */
  factor: number;
  /** Upper bound in ms, jitter included. @defaultValue 60000 */
  max: number;
  /**
   * Fraction of the delay that is randomized: 0 = none, 1 = "full jitter" (uniform in [0, d]).
   * @defaultValue 0.5
   */
  jitter: number;
}

/** DEFAULT_RETRY_BACKOFF is the job retry schedule: 1s, 2s, 4s … up to a minute, half jittered. */
export const DEFAULT_RETRY_BACKOFF: BackoffOptions = { initial: 1000, factor: 2, max: 60_000, jitter: 0.5 };

/**
 * DEFAULT_RECONNECT_BACKOFF is the broker reconnect schedule: 100ms doubling up to 10s, half jittered,
 * so a fleet of workers does not reconnect in lockstep after a broker restart.
 */
export const DEFAULT_RECONNECT_BACKOFF: BackoffOptions = {
  initial: 100,
  factor: 2,
  max: 10_000,
  jitter: 0.5,
};

/**
 * withBackoffDefaults merges a schedule's given fields over `defaults`. A `max` not given is at
 * least the given `initial`: "retry after 2 minutes" (`{ initial: 120_000 }`) waits 2 minutes.
 * Before, the default max (60 s for retries, 10 s for reconnects) stayed, below it, and the worker
 * (or queue) was refused for a max the user never set.
 */
export function withBackoffDefaults(
  defaults: BackoffOptions,
  given: Partial<BackoffOptions> = {},
): BackoffOptions {
  const merged = { ...defaults };
  for (const key of ['initial', 'factor', 'max', 'jitter'] as const)
    if (given[key] !== undefined) merged[key] = given[key];
  if (given.max === undefined && merged.initial > merged.max) merged.max = merged.initial;
  return merged;
}

/**
 * backoffProblem says what is wrong with a schedule, naming the field and its value, or undefined
 * when it is usable: a negative `initial` or a `factor` below 1 would retry (or reconnect) in a hot
 * loop. Before, every problem read the same list of all four rules.
 */
export function backoffProblem(b: BackoffOptions): string | undefined {
  if (!(b.initial >= 0)) return `initial (${b.initial}) must be >= 0`;
  if (!(b.factor >= 1)) return `factor (${b.factor}) must be >= 1`;
  if (!(b.max >= b.initial)) return `max (${b.max}) must be >= initial (${b.initial})`;
  if (!(b.jitter >= 0 && b.jitter <= 1)) return `jitter (${b.jitter}) must be from 0 to 1`;
  return undefined;
}

/**
 * backoffDelay is the delay before attempt `attempt` (1 = the first retry): the exponential base
 * capped at `max`, of which a `jitter` fraction is drawn from `random()` in [0, 1).
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const n = Math.max(1, Math.floor(attempt));
  const base = Math.min(options.max, options.initial * options.factor ** (n - 1));
  const jitter = Math.min(1, Math.max(0, options.jitter));
  const delay = base * (1 - jitter) + base * jitter * random();
  return Math.max(0, Math.round(delay));
}

/** RetryDecision says what to do with a job whose handler failed, and why. */
export type RetryDecision =
  | { action: 'retry'; delay: number; reason: 'AttemptsLeft' }
  | { action: 'dead-letter'; reason: 'RetriesExhausted' | 'NotRetryable' };

/**
 * decideRetry is the fate of a job whose handler failed on attempt `attempt` (1-based) when
 * `retries` retries are allowed: retry after a backoff delay, or dead-letter it.
 */
export function decideRetry(
  attempt: number,
  retries: number,
  backoff: BackoffOptions,
  random: () => number,
  retryable = true,
): RetryDecision {
  if (!retryable) return { action: 'dead-letter', reason: 'NotRetryable' };
  if (attempt > retries) return { action: 'dead-letter', reason: 'RetriesExhausted' };
  return { action: 'retry', delay: backoffDelay(attempt, backoff, random), reason: 'AttemptsLeft' };
}
