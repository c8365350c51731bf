/**
 * The in-process tier: a SIEVE cache (Zhang et al., NSDI '24) bounded by entry count and by
 * approximate bytes. SIEVE beats LRU on web workloads and a hit only sets a bit (no list
 * surgery), which keeps the hot path cheap. A tag index lets `deleteByTag` evict without a scan.
 */

import type { CacheEntry } from './entry.js';

interface Node {
  key: string;
  entry: CacheEntry;
  bytes: number;
  visited: boolean;
  prev: Node | undefined; // towards the head (newer)
  next: Node | undefined; // towards the tail (older)
}

/** MemoryStoreLimits bounds the memory tier. */
export interface MemoryStoreLimits {
  /** @defaultValue 10000 */
  maxEntries: number;
  /** Approximate: serialized size + key + a fixed overhead per entry. @defaultValue 64 MiB */
  maxBytes: number;
}

/** ENTRY_OVERHEAD_BYTES approximates the per-entry bookkeeping the byte bound charges. */
export const ENTRY_OVERHEAD_BYTES = 96;

/** MemoryStore is the SIEVE-evicted, entry- and byte-bounded map of cache entries. */
export class MemoryStore {
  readonly #limits: MemoryStoreLimits;
  readonly #map = new Map<string, Node>();
  readonly #tags = new Map<string, Set<string>>();
  #head: Node | undefined;
  #tail: Node | undefined;
  #hand: Node | undefined;
  #bytes = 0;
  #evictions = 0;

  constructor(limits: MemoryStoreLimits) {
    this.#limits = limits;
  }

  /** size is the number of entries held. */
  get size(): number {
    return this.#map.size;
  }

  /** bytes is the approximate memory the entries account for. */
  get bytes(): number {
    return this.#bytes;
  }

  /** evictions counts entries dropped to respect the bounds. */
  get evictions(): number {
    return this.#evictions;
  }

  /** get returns the entry and marks it recently used; entries past their grace are dropped here. */
  get(key: string, now: number): CacheEntry | undefined {
    const node = this.#map.get(key);
    if (node === undefined) return undefined;
    if (now >= node.entry.graceUntil) {
      this.#remove(node);
      return undefined;
    }
    node.visited = true;
    return node.entry;
  }

  /** peek returns the entry held for `key`, without touching its usage bit or expiry. */
  peek(key: string): CacheEntry | undefined {
    return this.#map.get(key)?.entry;
  }

  /** has says whether `key` is held, without touching its usage bit or expiry. */
  has(key: string): boolean {
    return this.#map.has(key);
  }

  /** set stores `entry` charged at `bytes` of payload; an entry larger than the whole budget is not kept. */
  set(key: string, entry: CacheEntry, payloadBytes: number): void {
    const bytes = payloadBytes + key.length * 2 + ENTRY_OVERHEAD_BYTES;
    const existing = this.#map.get(key);
    if (existing !== undefined) this.#remove(existing);
    if (bytes > this.#limits.maxBytes || this.#limits.maxEntries <= 0) return;
    while (
      this.#map.size > 0 &&
      (this.#map.size >= this.#limits.maxEntries || this.#bytes + bytes > this.#limits.maxBytes)
    ) {
      this.#evictOne();
    }
    const node: Node = { key, entry, bytes, visited: false, prev: undefined, next: this.#head };
    if (this.#head) this.#head.prev = node;
    this.#head = node;
    if (this.#tail === undefined) this.#tail = node;
    this.#map.set(key, node);
    this.#bytes += bytes;
    for (const tag of entry.tags) {
      let keys = this.#tags.get(tag);
      if (keys === undefined) {
        keys = new Set();
        this.#tags.set(tag, keys);
      }
      keys.add(key);
    }
  }

  /** delete drops `key`; true when it was held. */
  delete(key: string): boolean {
    const node = this.#map.get(key);
    if (node === undefined) return false;
    this.#remove(node);
    return true;
  }

  /** deleteByTag drops every entry carrying `tag` and returns how many. */
  deleteByTag(tag: string): number {
    const keys = this.#tags.get(tag);
    if (keys === undefined) return 0;
    let n = 0;
    for (const key of [...keys]) if (this.delete(key)) n++;
    this.#tags.delete(tag);
    return n;
  }

  /** clear drops everything. */
  clear(): void {
    this.#map.clear();
    this.#tags.clear();
    this.#head = this.#tail = this.#hand = undefined;
    this.#bytes = 0;
  }

  #evictOne(): void {
    // SIEVE: the hand walks from the tail towards the head, clearing visited bits, and evicts the
    // first unvisited node; it wraps to the tail at the head.
    let node = this.#hand ?? this.#tail;
    while (node?.visited) {
      node.visited = false;
      node = node.prev ?? this.#tail;
    }
    if (node === undefined) return;
    this.#hand = node.prev;
    this.#evictions++;
    this.#remove(node);
  }

  #remove(node: Node): void {
    if (this.#hand === node) this.#hand = node.prev;
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    node.prev = node.next = undefined;
    this.#map.delete(node.key);
    this.#bytes -= node.bytes;
    for (const tag of node.entry.tags) {
      const keys = this.#tags.get(tag);
      if (keys === undefined) continue;
      keys.delete(node.key);
      if (keys.size === 0) this.#tags.delete(tag);
    }
  }
}
