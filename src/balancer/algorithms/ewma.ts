import { performance } from 'node:perf_hooks';
import type { Backend } from '../types.js';
import { pickTwo } from './p2c.js';
import type { PickContext, Picker } from './picker.js';

/** EwmaState is one backend's latency estimate. */
export interface EwmaState {
  /** Estimated latency, ms. */
  cost: number;
  /** When `cost` was last updated, ms. */
  stamp: number;
}

/**
 * decayedCost is the estimate at `now`: it decays towards 0 with time constant `decay`, so a backend
 * that was slow and got no traffic since is eventually tried again.
 */
export function decayedCost(state: EwmaState, now: number, decay: number): number {
  const elapsed = Math.max(0, now - state.stamp);
  return state.cost * Math.exp(-elapsed / decay);
}

/**
 * observePeakEwma folds one latency sample into the estimate, as Finagle's and Linkerd's peak EWMA:
 * a sample above the current estimate replaces it at once (react to a slowdown immediately), a
 * lower one is blended in with weight `1 - e^(-elapsed/decay)` (recover smoothly).
 */
export function observePeakEwma(state: EwmaState, rtt: number, now: number, decay: number): void {
  const cost = decayedCost(state, now, decay);
  if (rtt > cost) state.cost = rtt;
  else {
    const w = Math.exp(-Math.max(0, now - state.stamp) / decay);
    state.cost = state.cost * w + rtt * (1 - w);
  }
  state.stamp = now;
}

/** UNKNOWN_BUSY is the load of a backend with no latency known and a request out: above any other. */
const UNKNOWN_BUSY = 1e12;

/**
 * EwmaPicker is peak-EWMA load balancing (Finagle, Linkerd): the load of a backend is its latency
 * estimate × (in-flight + 1). It sends less to a backend that is slow, not only to one that is
 * busy. A backend with no estimate yet takes one request at a time until it answers.
 *
 * Weights are honoured as Envoy's least-request balancer honours them: with equal weights (the
 * usual case) the lower load of two random backends wins (power of two choices); with unequal
 * ones (set by hand, or slow start ramping a new backend) each backend is drawn with probability
 * in proportion to weight / load, so under light load, when loads are alike, a weight-2 backend
 * gets twice the requests of a weight-1 one, and a slow or busy one still gets less. Before, the
 * two random backends were compared by load / weight: latencies hardly differ between requests
 * when there is no queue, so the higher weight always won, and of a weight-2 and a weight-1
 * backend the weight-2 one took every request one at a time (a weight is a share, not a rank).
 */
export class EwmaPicker implements Picker {
  readonly name = 'ewma';
  readonly #states = new WeakMap<Backend, EwmaState>();
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #decay: number;
  readonly #defaultRtt: number;
  #pickNow = 0;

  constructor(
    options: { random?: () => number; now?: () => number; decay?: number; defaultRtt?: number } = {},
  ) {
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => performance.now());
    this.#decay = options.decay ?? 10_000;
    this.#defaultRtt = options.defaultRtt ?? 1;
  }

  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined {
    this.#pickNow = this.#now();
    let list = backends;
    const exclude = ctx?.exclude;
    if (exclude !== undefined && exclude.size > 0) list = backends.filter((b) => !exclude.has(b));
    if (list.length <= 1) return list[0];
    const weight = list[0]!.weight;
    let equal = true;
    for (const backend of list) if (backend.weight !== weight) equal = false;
    if (equal) return pickTwo(list, undefined, this.#random, this.#load);
    return weightedDraw(list, this.#random, (backend) => backend.weight / this.#load(backend));
  }

  observe(backend: Backend, latencyMs: number): void {
    const now = this.#now();
    const state = this.#states.get(backend);
    if (state === undefined) this.#states.set(backend, { cost: latencyMs, stamp: now });
    else observePeakEwma(state, latencyMs, now, this.#decay);
  }

  /** load is a backend's latency estimate × (in-flight + 1), its weight left out (see pick). */
  readonly #load = (backend: Backend): number => {
    const state = this.#states.get(backend);
    if (state === undefined) {
      // Not heard from yet (just added, or cold): as Finagle's PeakEwma, it gets one request to
      // learn its latency, and nothing more while that one is out. Costed at a 1 ms default
      // whatever its queue, it looked faster than every warm backend, and a new instance took
      // every request of 6 clients before its first answer.
      if (backend.inFlight > 0) return UNKNOWN_BUSY + backend.inFlight;
      return this.#defaultRtt;
    }
    const cost = decayedCost(state, this.#pickNow, this.#decay);
    // Floored so that weight / load stays finite for a backend idle long enough for its estimate
    // to decay to nothing (it is then drawn almost surely: tried again, as the decay intends).
    return Math.max(cost, MIN_COST) * (backend.inFlight + 1);
  };
}

/** MIN_COST is the lowest latency estimate a load is computed from, ms (1 µs). */
const MIN_COST = 1e-3;

/**
 * weightedDraw draws one of `list` (at least one) with probability in proportion to `share`, as
 * Envoy's weighted least-request balancer schedules by weight / (active requests + 1). Pure of
 * I/O: the randomness is `random`.
 */
export function weightedDraw<B>(list: readonly B[], random: () => number, share: (b: B) => number): B {
  const shares = list.map(share);
  let total = 0;
  for (const s of shares) total += s;
  let r = random() * total;
  for (let i = 0; i < list.length - 1; i++) {
    r -= shares[i]!;
    if (r < 0) return list[i]!;
  }
  return list[list.length - 1]!;
}
