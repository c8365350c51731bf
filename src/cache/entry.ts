/**
 * Pure lifetime arithmetic of a cache entry. An entry passes through four windows:
 *
 *   createdAt ── refreshAt ── freshUntil ── staleUntil ── graceUntil
 *      fresh        fresh,        stale: served,   grace: served only
 *                  refreshed      refreshed in     when the loader fails
 *                  early          background       (stale-if-error)
 *
 * After graceUntil the entry is gone (it is also the Redis PX expiry). Nothing here reads a clock:
 * callers pass `now` and a random source.
 */

import type { Random } from './clock.js';

/** CacheEntry is one value with its absolute lifetime marks (ms since epoch). */
export interface CacheEntry<T = unknown> {
  value: T;
  createdAt: number;
  /** From here on a hit also starts a background refresh; equals freshUntil when early refresh is off. */
  refreshAt: number;
  /** Logical expiry: the (jittered) TTL ends here. */
  freshUntil: number;
  /** Until here a stale value is served while a background refresh runs (stale-while-revalidate). */
  staleUntil: number;
  /** Until here the value is kept to be served if the loader fails (stale-if-error); hard expiry. */
  graceUntil: number;
  tags: readonly string[];
  /** The loader found nothing (returned undefined or null); kept with the negative TTL. */
  negative: boolean;
}

/** EntryPolicy is how long an entry lives, in ms, after options have been resolved. */
export interface EntryPolicy {
  ttl: number;
  /** Fraction of the TTL (0–1) added or removed at random so that keys set together do not expire together. */
  jitter: number;
  /** Fraction of the TTL (0–1) after which a hit triggers a background refresh; 0 disables it. */
  earlyRefresh: number;
  staleWhileRevalidate: number;
  staleIfError: number;
  /** TTL of negative entries; 0 means misses are not cached. */
  negativeTtl: number;
}

/** jitteredTtl spreads `ttl` uniformly over ±`jitter`×ttl, never below 1 ms. */
export function jitteredTtl(ttl: number, jitter: number, random: Random): number {
  if (jitter <= 0) return ttl;
  const spread = ttl * jitter * (2 * random() - 1);
  return Math.max(1, Math.round(ttl + spread));
}

/**
 * buildEntry stamps a value loaded at `now` with its lifetime. Returns undefined when the value is
 * negative and negative caching is off, meaning "do not store".
 */
export function buildEntry<T>(
  value: T,
  tags: readonly string[],
  policy: EntryPolicy,
  now: number,
  random: Random,
): CacheEntry<T> | undefined {
  const negative = value === undefined || value === null;
  if (negative && policy.negativeTtl <= 0) return undefined;
  const ttl = jitteredTtl(negative ? policy.negativeTtl : policy.ttl, policy.jitter, random);
  const freshUntil = now + ttl;
  const early = negative ? 0 : policy.earlyRefresh;
  const refreshAt = early > 0 && early < 1 ? now + Math.round(ttl * early) : freshUntil;
  const staleUntil = freshUntil + (negative ? 0 : policy.staleWhileRevalidate);
  const graceUntil = Math.max(staleUntil, freshUntil + (negative ? 0 : policy.staleIfError));
  return { value, createdAt: now, refreshAt, freshUntil, staleUntil, graceUntil, tags, negative };
}

/**
 * EntryState is what a lookup found:
 * - `fresh`: serve it;
 * - `refresh`: serve it and refresh in the background (early refresh);
 * - `stale`: serve it, count a stale serve, refresh in the background;
 * - `grace`: do not serve; load, and fall back to it if the loader fails;
 * - `expired`: past every window, treat as missing;
 * - `missing`: nothing there.
 */
export type EntryState = 'fresh' | 'refresh' | 'stale' | 'grace' | 'expired' | 'missing';

/** classifyEntry says which window of its life `entry` is in at `now`. */
export function classifyEntry(entry: CacheEntry | undefined, now: number): EntryState {
  if (entry === undefined) return 'missing';
  if (now < entry.refreshAt) return 'fresh';
  if (now < entry.freshUntil) return 'refresh';
  if (now < entry.staleUntil) return 'stale';
  if (now < entry.graceUntil) return 'grace';
  return 'expired';
}

/** isServable is true for the states a read returns without calling the loader. */
export function isServable(state: EntryState): state is 'fresh' | 'refresh' | 'stale' {
  return state === 'fresh' || state === 'refresh' || state === 'stale';
}

/** remainingMs is how long the entry must still be stored (its hard expiry), at least 1 ms. */
export function remainingMs(entry: CacheEntry, now: number): number {
  return Math.max(1, entry.graceUntil - now);
}
