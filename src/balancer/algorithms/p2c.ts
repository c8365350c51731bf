import type { Backend } from '../types.js';
import type { PickContext, Picker } from './picker.js';

/**
 * pickTwo draws two distinct backends at random (skipping excluded ones) and returns the one with
 * the lower `load`, the first drawn on ties. It is the "power of two choices" core shared by p2c and
 * ewma: nearly as good as scanning everything, O(1), and free of the herd effect of always picking
 * the global minimum from stale counts.
 */
export function pickTwo<B extends Backend>(
  backends: readonly B[],
  ctx: PickContext | undefined,
  random: () => number,
  load: (backend: B) => number,
): B | undefined {
  let list = backends;
  const exclude = ctx?.exclude;
  if (exclude !== undefined && exclude.size > 0) list = backends.filter((b) => !exclude.has(b));
  const n = list.length;
  if (n <= 1) return list[0];
  const i = Math.floor(random() * n);
  // The second index is drawn from the other n-1 so the two are always distinct.
  let j = Math.floor(random() * (n - 1));
  if (j >= i) j++;
  const a = list[i]!;
  const b = list[j]!;
  return load(b) < load(a) ? b : a;
}

function inFlightLoad(backend: Backend): number {
  return backend.inFlight / backend.weight;
}

/**
 * P2CPicker is power-of-two-choices on in-flight requests per unit of weight. With unequal weights
 * the first of the two is drawn in proportion to weight and wins ties: under light load (both
 * often idle, a tie) a weight-2 backend gets twice the requests of a weight-1 one, and a backend in
 * slow start its ramped share, rather than an even split.
 */
export class P2CPicker implements Picker {
  readonly name = 'p2c';
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined {
    let list = backends;
    const exclude = ctx?.exclude;
    if (exclude !== undefined && exclude.size > 0) list = backends.filter((b) => !exclude.has(b));
    const n = list.length;
    if (n <= 1) return list[0];
    let total = 0;
    let equal = true;
    for (const backend of list) {
      total += backend.weight;
      if (backend.weight !== list[0]!.weight) equal = false;
    }
    if (equal) return pickTwo(list, undefined, this.#random, inFlightLoad);
    let r = this.#random() * total;
    let i = 0;
    while (i < n - 1 && r >= list[i]!.weight) r -= list[i++]!.weight;
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j++;
    const a = list[i]!;
    const b = list[j]!;
    return inFlightLoad(b) < inFlightLoad(a) ? b : a;
  }
}
