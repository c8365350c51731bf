/**
 * Per-key backoff of a failing loader while a stale value stands in for it. Without it, while the
 * database was down every read of a key past its TTL (one at a time per process: single-flight only
 * joins concurrent ones) called the loader again, and every stale hit started another background
 * refresh: a sick database got one query per read instead of a rest. After a load fails and a stale
 * value is at hand (stale-if-error, a failed refresh), the key's loader is not called again in this
 * process for `staleIfErrorBackoff`; reads meanwhile get the stale value, still read from Redis
 * first (another instance may have stored a fresh one). BentoCache's `graceBackoff` (10 s by
 * default) is the same idea, kept in its memory tier.
 */

/** MAX_BACKOFF_KEYS bounds how many failing keys are remembered; the oldest failure is forgotten first. */
export const MAX_BACKOFF_KEYS = 10_000;

/** LoaderBackoff remembers, per key, until when a failed loader is left alone. Decisions take `now`. */
export class LoaderBackoff {
  /**
   * Key → when its load failed and the clock time before which its loader is not called again;
   * insertion order is failure order.
   */
  readonly #until = new Map<string, { failedAt: number; until: number }>();
  readonly #max: number;

  constructor(max = MAX_BACKOFF_KEYS) {
    this.#max = max;
  }

  /** size is the number of keys backing off (or whose backoff has passed unnoticed). */
  get size(): number {
    return this.#until.size;
  }

  /** failed records that a load of `key` failed at `now`: no new load of it before `now + ms`. */
  failed(key: string, now: number, ms: number): void {
    if (ms <= 0) return;
    // Deleted first so that the key moves to the end: the map forgets the oldest failure when full.
    this.#until.delete(key);
    this.#until.set(key, { failedAt: now, until: now + ms });
    if (this.#until.size > this.#max) this.#until.delete(this.#until.keys().next().value as string);
  }

  /**
   * waiting says whether `key`'s loader is still left alone at `now`. A `now` before the failure is
   * a step back of the cache's clock (the wall clock, which the entries' times are on): the backoff
   * is over then. Before, such a step held the loader off for as long as the step, and a stale value
   * past its TTL was served without a try for all that time.
   */
  waiting(key: string, now: number): boolean {
    if (this.#until.size === 0) return false;
    const backoff = this.#until.get(key);
    if (backoff === undefined) return false;
    if (backoff.failedAt <= now && now < backoff.until) return true;
    this.#until.delete(key);
    return false;
  }

  /** clear forgets `key`: a load of it succeeded, or it was set or deleted. */
  clear(key: string): void {
    if (this.#until.size > 0) this.#until.delete(key);
  }

  /** clearAll forgets every key. */
  clearAll(): void {
    this.#until.clear();
  }
}
