/** NginxRetryOptions shapes how a failed sync is retried. */
export interface NginxRetryOptions {
  /** ms before the first retry, before jitter. @defaultValue 1000 */
  initial: number;
  /** ms no retry waits longer than. @defaultValue 30000 */
  max: number;
}

/** DEFAULT_NGINX_RETRY is 1 s doubling up to 30 s. */
export const DEFAULT_NGINX_RETRY: NginxRetryOptions = { initial: 1000, max: 30_000 };

/**
 * nginxRetryDelay is the wait before retry `attempt` (1-based) of a failed sync: `initial` doubling
 * per attempt, capped at `max`, with "equal jitter" (half fixed, half drawn from `random()` in
 * [0, 1)) so several Scaleplanes driving NGINXes that failed together do not retry in lockstep, yet
 * none retries in a tight loop.
 */
export function nginxRetryDelay(attempt: number, options: NginxRetryOptions, random: () => number): number {
  const n = Math.max(1, Math.min(Math.floor(attempt), 31));
  const capped = Math.min(options.max, options.initial * 2 ** (n - 1));
  return Math.round(capped / 2 + (random() * capped) / 2);
}
