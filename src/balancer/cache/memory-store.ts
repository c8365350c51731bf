import {
  MAX_VARIANTS,
  matchesPrefix,
  matchesUrl,
  type PurgeSelector,
  type StoredResponse,
  storedBytes,
} from './entry.js';
import type { HttpCacheStore, VariantOf } from './store.js';

/** MemoryStoreLimits bound a MemoryHttpStore. */
export interface MemoryStoreLimits {
  /** Most keys held (variants of one key count once). @defaultValue 10000 */
  maxEntries: number;
  /** Most bytes held, approximate (bodies, headers, keys). @defaultValue 64 MiB */
  maxBytes: number;
}

interface Slot {
  variants: StoredResponse[];
  bytes: number;
}

/**
 * MemoryHttpStore holds responses in this process, least recently used evicted first when a bound
 * is reached. A Map's insertion order is the recency list: a hit re-inserts its key.
 */
export class MemoryHttpStore implements HttpCacheStore {
  readonly kind = 'memory';
  readonly #limits: MemoryStoreLimits;
  readonly #slots = new Map<string, Slot>();
  readonly #tags = new Map<string, Set<string>>();
  #bytes = 0;

  constructor(limits: MemoryStoreLimits) {
    this.#limits = limits;
  }

  async get(key: string, now: number, variantOf?: VariantOf): Promise<StoredResponse[]> {
    const slot = this.#slots.get(key);
    if (slot === undefined) return [];
    const live = slot.variants.filter((v) => v.expiresAt > now);
    if (live.length === 0) {
      this.#remove(key);
      return [];
    }
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    return variantOf === undefined ? live : live.filter((v) => v.variant === variantOf(v.vary));
  }

  async put(key: string, response: StoredResponse, now: number): Promise<void> {
    const previous = this.#slots.get(key);
    const sameVary = (v: StoredResponse) => v.vary.join() === response.vary.join();
    const kept = (previous?.variants ?? []).filter(
      (v) => v.expiresAt > now && sameVary(v) && v.variant !== response.variant,
    );
    if (previous !== undefined) this.#remove(key);
    // Oldest first: past the bound the oldest variants make room.
    const variants = [...kept.slice(Math.max(0, kept.length - (MAX_VARIANTS - 1))), response];
    const bytes = variants.reduce((sum, v) => sum + storedBytes(key, v), 0);
    if (bytes > this.#limits.maxBytes || this.#limits.maxEntries <= 0) return;
    for (const oldest of this.#slots.keys()) {
      if (this.#slots.size < this.#limits.maxEntries && this.#bytes + bytes <= this.#limits.maxBytes) break;
      this.#remove(oldest);
    }
    this.#slots.set(key, { variants, bytes });
    this.#bytes += bytes;
    for (const variant of variants) for (const tag of variant.tags) this.#tag(tag, key);
  }

  async remove(key: string, variant: string): Promise<boolean> {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    const kept = slot.variants.filter((v) => v.variant !== variant);
    if (kept.length === slot.variants.length) return false;
    this.#remove(key);
    if (kept.length > 0) {
      const bytes = kept.reduce((sum, v) => sum + storedBytes(key, v), 0);
      this.#slots.set(key, { variants: kept, bytes });
      this.#bytes += bytes;
      for (const other of kept) for (const tag of other.tags) this.#tag(tag, key);
    }
    return true;
  }

  async purge(selector: PurgeSelector): Promise<number> {
    const doomed = new Set<string>();
    for (const tag of selector.tags) for (const key of this.#tags.get(tag) ?? []) doomed.add(key);
    if (selector.urls.length > 0 || selector.prefixes.length > 0) {
      for (const key of this.#slots.keys()) {
        if (
          selector.urls.some((target) => matchesUrl(key, target)) ||
          selector.prefixes.some((target) => matchesPrefix(key, target))
        )
          doomed.add(key);
      }
    }
    for (const key of doomed) this.#remove(key);
    return doomed.size;
  }

  usage(): { entries: number; bytes: number } {
    return { entries: this.#slots.size, bytes: this.#bytes };
  }

  async close(): Promise<void> {
    this.#slots.clear();
    this.#tags.clear();
    this.#bytes = 0;
  }

  #tag(tag: string, key: string): void {
    let keys = this.#tags.get(tag);
    if (keys === undefined) {
      keys = new Set();
      this.#tags.set(tag, keys);
    }
    keys.add(key);
  }

  #remove(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#slots.delete(key);
    this.#bytes -= slot.bytes;
    for (const variant of slot.variants) {
      for (const tag of variant.tags) {
        const keys = this.#tags.get(tag);
        keys?.delete(key);
        if (keys?.size === 0) this.#tags.delete(tag);
      }
    }
  }
}
