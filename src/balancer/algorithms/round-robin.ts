import type { Backend } from '../types.js';
import type { PickContext, Picker } from './picker.js';

/**
 * RoundRobinPicker is NGINX's smooth weighted round-robin: each pick adds every backend's weight to
 * its current weight, takes the highest (first on ties) and subtracts the total from it. Weights
 * 5/1/1 give a,a,b,a,c,a,a: the heavy backend is interleaved rather than hit five times in a row.
 */
export class RoundRobinPicker implements Picker {
  readonly name = 'round-robin';
  // Keyed by the pool's backend objects so a removed backend's state goes with it.
  readonly #current = new WeakMap<Backend, number>();

  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined {
    const exclude = ctx?.exclude;
    let best: B | undefined;
    let bestWeight = 0;
    let total = 0;
    for (const backend of backends) {
      if (exclude?.has(backend)) continue;
      const weight = (this.#current.get(backend) ?? 0) + backend.weight;
      this.#current.set(backend, weight);
      total += backend.weight;
      if (best === undefined || weight > bestWeight) {
        best = backend;
        bestWeight = weight;
      }
    }
    if (best !== undefined) this.#current.set(best, bestWeight - total);
    return best;
  }
}
