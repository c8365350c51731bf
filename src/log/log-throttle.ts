/**
 * A log throttle per key (client address and reason): the first event of a key is logged at once,
 * the rest within `intervalMs` are only counted, and the first event after the interval is logged
 * with that count (as NGINX's limit_req logging and Envoy's rate-limited logs do), or by `expired`
 * once the interval is over if none comes. Pure: the caller passes `now`; keys are bounded, so a
 * spray of addresses cannot grow it without bound.
 */

/** LogThrottleOptions configures one throttle. */
export interface LogThrottleOptions {
  /** At most one line per key per this many ms. @defaultValue 10000 */
  intervalMs?: number;
  /** Most keys tracked; beyond it the oldest is forgotten (its next event logs at once). @defaultValue 10000 */
  maxKeys?: number;
}

/** LogVerdict says whether to write this event's line and how many were dropped before it. */
export interface LogVerdict {
  log: boolean;
  /** Events of this key dropped since its last logged line (0 when `log` is false). */
  suppressed: number;
}

interface Window {
  /** When the last logged line of this key was written. */
  at: number;
  suppressed: number;
}

/** LogThrottle decides, per key, which refused-request log lines are written. */
export class LogThrottle {
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  readonly #windows = new Map<string, Window>();

  constructor(options: LogThrottleOptions = {}) {
    const intervalMs = options.intervalMs ?? 10_000;
    const maxKeys = options.maxKeys ?? 10_000;
    if (!(intervalMs >= 0)) throw new RangeError('intervalMs must be >= 0');
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError('maxKeys must be an integer >= 1');
    this.#intervalMs = intervalMs;
    this.#maxKeys = maxKeys;
  }

  /** admit records one event of `key` at `now` and says whether to log it. */
  admit(key: string, now: number): LogVerdict {
    const window = this.#windows.get(key);
    if (window !== undefined && now - window.at < this.#intervalMs) {
      window.suppressed += 1;
      return { log: false, suppressed: 0 };
    }
    const suppressed = window?.suppressed ?? 0;
    // Re-inserted so the map's order is the order of last logged lines: the oldest goes first.
    this.#windows.delete(key);
    this.#windows.set(key, { at: now, suppressed: 0 });
    if (this.#windows.size > this.#maxKeys) this.#windows.delete(this.#windows.keys().next().value!);
    return { log: true, suppressed };
  }

  /**
   * expired forgets every key whose interval has ended by `now` and returns those that dropped
   * events since their last line: without it, the count of a key that then goes quiet would never
   * be written. `expired(Infinity)` flushes all (at shutdown).
   */
  expired(now: number): { key: string; suppressed: number }[] {
    const ended: { key: string; suppressed: number }[] = [];
    for (const [key, window] of this.#windows) {
      // The map is in the order of last logged lines: the first one still open ends the sweep.
      if (now - window.at < this.#intervalMs) break;
      this.#windows.delete(key);
      if (window.suppressed > 0) ended.push({ key, suppressed: window.suppressed });
    }
    return ended;
  }

  /** size is the number of keys tracked (for tests). */
  get size(): number {
    return this.#windows.size;
  }
}
