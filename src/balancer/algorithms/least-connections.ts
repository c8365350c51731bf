import type { Backend } from '../types.js';
import type { PickContext, Picker } from './picker.js';

/**
 * LeastConnectionsPicker picks the backend with the fewest in-flight requests relative to its
 * weight. Ties are broken by smooth weighted round-robin among the tied backends, as NGINX's
 * `least_conn` does: under light load (often every backend idle, so every pick a tie) a weight-2
 * backend still gets twice the requests of a weight-1 one, and a backend in slow start its ramped
 * share, instead of equal turns for all.
 */
export class LeastConnectionsPicker implements Picker {
  readonly name = 'least-connections';
  // Keyed by the pool's backend objects so a removed backend's state goes with it.
  readonly #current = new WeakMap<Backend, number>();

  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined {
    const exclude = ctx?.exclude;
    let least: B | undefined;
    let ties = 0;
    for (const backend of backends) {
      if (exclude?.has(backend)) continue;
      // inFlight/weight compared by cross-multiplying, as NGINX does, to stay in integers.
      const order =
        least === undefined ? -1 : backend.inFlight * least.weight - least.inFlight * backend.weight;
      if (order < 0) {
        least = backend;
        ties = 1;
      } else if (order === 0) ties++;
    }
    if (least === undefined || ties === 1) return least;
    let best: B | undefined;
    let bestWeight = 0;
    let total = 0;
    for (const backend of backends) {
      if (exclude?.has(backend)) continue;
      if (backend.inFlight * least.weight !== least.inFlight * backend.weight) continue;
      const weight = (this.#current.get(backend) ?? 0) + backend.weight;
      this.#current.set(backend, weight);
      total += backend.weight;
      if (best === undefined || weight > bestWeight) {
        best = backend;
        bestWeight = weight;
      }
    }
    this.#current.set(best!, bestWeight - total);
    return best;
  }
}
