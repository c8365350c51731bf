/**
 * A token bucket per key (client address, token name): `perMinute` requests, refilled
 * continuously. Pure: the caller passes `now`; the limiter keeps only numbers per key and drops
 * keys whose bucket is full again, so it cannot grow without bound under a spray of addresses.
 */

/** RateLimiterOptions configures one limiter. */
export interface RateLimiterOptions {
  /** Requests allowed per minute, also the burst size. */
  perMinute: number;
  /** Most keys tracked; beyond it the oldest is forgotten. @defaultValue 10000 */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** RateLimiter answers "may this key act now?" and, when not, how long until it may. */
export class RateLimiter {
  readonly #perMinute: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!(options.perMinute >= 1)) throw new RangeError('perMinute must be >= 1');
    this.#perMinute = options.perMinute;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /** take spends one token of `key`; returns 0 when allowed, else the seconds to wait. */
  take(key: string, now: number): number {
    const bucket = this.#refill(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#store(key, bucket);
      return 0;
    }
    this.#store(key, bucket);
    return Math.ceil(((1 - bucket.tokens) * 60_000) / this.#perMinute / 1000);
  }

  /** blocked says, without spending, whether `key` has no token left; returns seconds to wait or 0. */
  blocked(key: string, now: number): number {
    const bucket = this.#refill(key, now);
    return bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) * 60_000) / this.#perMinute / 1000);
  }

  /** size is the number of keys tracked (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #refill(key: string, now: number): Bucket {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#perMinute, at: now };
    const elapsed = Math.max(0, now - bucket.at);
    return {
      tokens: Math.min(this.#perMinute, bucket.tokens + (elapsed * this.#perMinute) / 60_000),
      at: now,
    };
  }

  #store(key: string, bucket: Bucket): void {
    this.#buckets.delete(key);
    if (bucket.tokens >= this.#perMinute) return; // full again: nothing worth remembering
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
  }
}
