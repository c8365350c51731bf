import type { Random } from './clock.js';

/** BackoffConfig bounds reconnect delays. */
export interface BackoffConfig {
  /** ms of the first delay before jitter. @defaultValue 50 */
  baseMs: number;
  /** ms no delay exceeds. @defaultValue 2000 */
  maxMs: number;
}

/**
 * reconnectDelay is the wait before reconnect attempt `attempt` (1-based): exponential growth capped
 * at `maxMs`, with "equal jitter" (half fixed, half random) so a fleet that lost Redis together does
 * not reconnect in lockstep, yet never retries in a tight loop.
 */
export function reconnectDelay(attempt: number, config: BackoffConfig, random: Random): number {
  const exp = Math.min(config.maxMs, config.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const half = exp / 2;
  return Math.round(half + random() * half);
}
