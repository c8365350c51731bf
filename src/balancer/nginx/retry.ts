import { reconnectDelay } from '../../cache/backoff.js';

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
 * nginxRetryDelay is the wait before retry `attempt` (1-based) of a failed sync: the cache's
 * reconnect backoff (`initial` doubling per attempt, capped at `max`, "equal jitter": half fixed,
 * half random) so several Scaleplanes driving NGINXes that failed together do not retry in lockstep,
 * yet none retries in a tight loop.
 */
export function nginxRetryDelay(attempt: number, options: NginxRetryOptions, random: () => number): number {
  return reconnectDelay(Math.max(1, attempt), { baseMs: options.initial, maxMs: options.max }, random);
}
