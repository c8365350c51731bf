/**
 * Hit-for-miss (Varnish's name): a key whose last fill found the response uncacheable is
 * remembered for a while, so its next requests go to the backend at once, each on its own, instead
 * of queueing behind one fill that will again store nothing. Without it a hot uncacheable URL
 * (private, Set-Cookie, too big…) is served in batches: every batch waits for one request's
 * response head before its own requests even start (about twice the backend's time).
 */

import { type NotStoredReason, RESOURCE_REASONS } from './policy.js';

/**
 * hitForMissMs is how long a key is left uncoalesced after a fill stored nothing for `reason`: the
 * configured TTL when the reason is the response's (its URL is likely uncacheable next time too),
 * 0 otherwise. The response's max-age is not used: it says how long a client may keep its own
 * copy, and the typical hot uncacheable page says `private, max-age=0`.
 */
export function hitForMissMs(reason: NotStoredReason, ttlMs: number): number {
  return RESOURCE_REASONS.has(reason) ? ttlMs : 0;
}

/**
 * HitForMiss holds the keys marked uncacheable, each until a time (ms), at most `maxKeys` of them
 * (past that the oldest mark goes: a lost mark only costs one coalesced batch).
 */
export class HitForMiss {
  readonly #until = new Map<string, number>();
  readonly #maxKeys: number;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  /** mark remembers `key` as uncacheable until `now + ms`; a non-positive `ms` does nothing. */
  mark(key: string, now: number, ms: number): void {
    if (ms <= 0) return;
    // Re-inserted so the Map's order stays oldest mark first.
    this.#until.delete(key);
    this.#until.set(key, now + ms);
    if (this.#until.size > this.#maxKeys) this.#until.delete(this.#until.keys().next().value!);
  }

  /** active says whether `key` is marked at `now` (an expired mark is dropped). */
  active(key: string, now: number): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#until.delete(key);
    return false;
  }

  /** clear forgets `key`: a cacheable response was stored for it. */
  clear(key: string): void {
    this.#until.delete(key);
  }

  /**
   * forget drops the marks of every key `purged` matches: a purge means "forget what you knew about
   * this URL", and a mark is such knowledge (a backend fixed to answer cacheably would otherwise
   * still be sent each request uncoalesced until the mark expires). Returns how many went.
   */
  forget(purged: (key: string) => boolean): number {
    let removed = 0;
    for (const key of [...this.#until.keys()]) {
      if (!purged(key)) continue;
      this.#until.delete(key);
      removed++;
    }
    return removed;
  }

  /** size is the number of marks held (expired ones included until looked up or pushed out). */
  get size(): number {
    return this.#until.size;
  }
}
