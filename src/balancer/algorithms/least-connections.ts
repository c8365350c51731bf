import type { Backend } from '../types.js';
import type { PickContext, Picker } from './picker.js';

/**
 * LeastConnectionsPicker picks the backend with the fewest in-flight requests relative to its
 * weight. Ties are broken round-robin: the scan starts just after the previous pick, so equally
 * loaded backends take turns instead of the first one taking everything.
 */
export class LeastConnectionsPicker implements Picker {
  readonly name = 'least-connections';
  #next = 0;

  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined {
    const n = backends.length;
    if (n === 0) return undefined;
    const exclude = ctx?.exclude;
    const start = this.#next % n;
    let best: B | undefined;
    let bestIndex = 0;
    for (let i = 0; i < n; i++) {
      const index = (start + i) % n;
      const backend = backends[index]!;
      if (exclude?.has(backend)) continue;
      // inFlight/weight compared by cross-multiplying, as NGINX does, to stay in integers.
      if (best === undefined || backend.inFlight * best.weight < best.inFlight * backend.weight) {
        best = backend;
        bestIndex = index;
      }
    }
    if (best !== undefined) this.#next = bestIndex + 1;
    return best;
  }
}
