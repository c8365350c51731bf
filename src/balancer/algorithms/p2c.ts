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

/** P2CPicker is power-of-two-choices on in-flight requests per unit of weight. */
export class P2CPicker implements Picker {
  readonly name = 'p2c';
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined {
    return pickTwo(backends, ctx, this.#random, inFlightLoad);
  }
}
