/**
 * A token bucket per instance for the output lines forwarded to Scaleplane's log: `linesPerSecond`
 * on average, up to `burst` at once (a start-up banner, a stack trace). Lines over the rate are
 * only counted; `summary` hands back that count once per interval, for one line saying so. Pure:
 * the caller passes `now` (ms).
 */

/** LOG_LINES_PER_SECOND is the default of a local group's `log_lines_per_second`. */
export const LOG_LINES_PER_SECOND = 100;
/** LOG_BURST_SECONDS is how many seconds' worth of lines may be forwarded at once. */
export const LOG_BURST_SECONDS = 10;
/** LOG_SUMMARY_INTERVAL_MS is how often the count of lines left out is logged. */
export const LOG_SUMMARY_INTERVAL_MS = 10_000;

/** LineRateOptions configures one bucket. */
export interface LineRateOptions {
  /** Lines forwarded per second on average. @defaultValue LOG_LINES_PER_SECOND */
  linesPerSecond?: number;
  /** Lines forwarded at once after a quiet spell. @defaultValue linesPerSecond × LOG_BURST_SECONDS */
  burst?: number;
  /** At most one summary per this many ms. @defaultValue LOG_SUMMARY_INTERVAL_MS */
  intervalMs?: number;
}

/** LeftOut is what `summary` reports: lines not forwarded since `sinceMs`. */
export interface LeftOut {
  lines: number;
  sinceMs: number;
}

/** LineRate decides which of one instance's output lines go to the main log. */
export class LineRate {
  readonly linesPerSecond: number;
  readonly #burst: number;
  readonly #intervalMs: number;
  #tokens: number;
  #refilledAt: number;
  #dropped = 0;
  #windowStart: number;

  constructor(options: LineRateOptions, now: number) {
    const linesPerSecond = options.linesPerSecond ?? LOG_LINES_PER_SECOND;
    if (!(Number.isFinite(linesPerSecond) && linesPerSecond > 0))
      throw new RangeError(`linesPerSecond must be a number > 0, got ${linesPerSecond}`);
    const burst = options.burst ?? linesPerSecond * LOG_BURST_SECONDS;
    if (!(Number.isFinite(burst) && burst >= 1))
      throw new RangeError(`burst must be a number >= 1, got ${burst}`);
    const intervalMs = options.intervalMs ?? LOG_SUMMARY_INTERVAL_MS;
    if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${intervalMs}`);
    this.linesPerSecond = linesPerSecond;
    this.#burst = burst;
    this.#intervalMs = intervalMs;
    this.#tokens = burst;
    this.#refilledAt = now;
    this.#windowStart = now;
  }

  /** admit takes one line at `now`: true to forward it, false when it is over the rate (counted). */
  admit(now: number): boolean {
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.linesPerSecond) / 1000);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    this.#dropped += 1;
    return false;
  }

  /**
   * summary ends the current interval once it has run its length (or at once with `force`, when
   * the output ends) and returns the lines left out in it; undefined while it runs or when none
   * were left out.
   */
  summary(now: number, force = false): LeftOut | undefined {
    if (!force && now - this.#windowStart < this.#intervalMs) return undefined;
    const leftOut = { lines: this.#dropped, sinceMs: now - this.#windowStart };
    this.#dropped = 0;
    this.#windowStart = now;
    return leftOut.lines > 0 ? leftOut : undefined;
  }
}
