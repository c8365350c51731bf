import type { Backend } from '../types.js';
import type { HashKeySource, PickContext, Picker } from './picker.js';

/** hash32 is FNV-1a over UTF-16 code units with a murmur3 finalizer, seeded. */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * buildMaglevTable fills a lookup table of `size` (a prime) slots with indexes into `ids`, as in
 * Google's Maglev (NSDI '16): each backend walks its own permutation of the slots (offset and skip
 * from two hashes of its id) and claims the next free one, in turns, `weight` slots per turn. Each
 * backend gets a near-equal share, and adding or removing one moves only about 1/N of the slots.
 */
export function buildMaglevTable(
  ids: readonly string[],
  weights: readonly number[],
  size: number,
): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = ids.length;
  if (n === 0) return table;
  const offset = new Array<number>(n);
  const skip = new Array<number>(n);
  const next = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    offset[i] = hash32(ids[i]!, 0x9747b28c) % size;
    skip[i] = (hash32(ids[i]!, 0x5bd1e995) % (size - 1)) + 1;
  }
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      const turns = turnsOf(weights[i]!);
      for (let t = 0; t < turns; t++) {
        let slot = (offset[i]! + next[i]! * skip[i]!) % size;
        while (table[slot]! >= 0) {
          next[i]!++;
          slot = (offset[i]! + next[i]! * skip[i]!) % size;
        }
        table[slot] = i;
        next[i]!++;
        if (++filled === size) return table;
      }
    }
  }
}

/** turnsOf is how many slots a backend of this weight claims per Maglev round: whole, at least one. */
function turnsOf(weight: number): number {
  return Math.max(1, Math.round(weight));
}

/**
 * ConsistentHashPicker sends every request with the same key (a header, a cookie or the client IP)
 * to the same backend while membership holds, through a Maglev table rebuilt when the eligible set
 * changes. A retry, or a key whose backend is excluded, walks on to the next slots.
 */
export class ConsistentHashPicker implements Picker {
  readonly name = 'consistent-hash';
  readonly hashKey: HashKeySource;
  readonly #size: number;
  // The pool hands out the same array until membership changes: identity says when to rebuild, and
  // so do the whole-slot weights, which change in the same array as slow start ramps them up.
  #built: readonly Backend[] | undefined;
  #turns: number[] = [];
  #table: Int32Array = new Int32Array(0);

  constructor(options: { hashKey?: HashKeySource; tableSize?: number } = {}) {
    this.hashKey = options.hashKey ?? { kind: 'ip' };
    this.#size = options.tableSize ?? 65_537;
  }

  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined {
    const n = backends.length;
    if (n === 0) return undefined;
    if (this.#built !== backends || this.#weightsMoved(backends)) {
      this.#turns = backends.map((b) => turnsOf(b.weight));
      this.#table = buildMaglevTable(
        backends.map((b) => b.id),
        this.#turns,
        this.#size,
      );
      this.#built = backends;
    }
    const exclude = ctx?.exclude;
    let slot = hash32(ctx?.key ?? '') % this.#size;
    const first = backends[this.#table[slot]!]!;
    if (exclude === undefined || !exclude.has(first)) return first;
    // Only the excluded backends still in the list count: a tried one may have left it since (ejected
    // by the very failure that excluded it), and counting it gave up with another one still free.
    let excludedHere = 0;
    for (const backend of backends) if (exclude.has(backend)) excludedHere++;
    if (excludedHere >= n) return undefined;
    // Every backend owns slots, so the walk finds a free one.
    for (let step = 1; step < this.#size; step++) {
      slot = slot + 1 === this.#size ? 0 : slot + 1;
      const backend = backends[this.#table[slot]!]!;
      if (!exclude.has(backend)) return backend;
    }
    return undefined;
  }

  #weightsMoved(backends: readonly Backend[]): boolean {
    for (let i = 0; i < backends.length; i++)
      if (turnsOf(backends[i]!.weight) !== this.#turns[i]) return true;
    return false;
  }
}
