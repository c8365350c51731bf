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
 * estimate × (in-flight + 1) / weight, compared between two random backends. It sends less to a
 * backend that is slow, not only to one that is busy. A backend with no estimate yet takes one
 * request at a time until it answers.
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
    return pickTwo(backends, ctx, this.#random, this.#load);
  }

  observe(backend: Backend, latencyMs: number): void {
    const now = this.#now();
    const state = this.#states.get(backend);
    if (state === undefined) this.#states.set(backend, { cost: latencyMs, stamp: now });
    else observePeakEwma(state, latencyMs, now, this.#decay);
  }

  readonly #load = (backend: Backend): number => {
    const state = this.#states.get(backend);
    if (state === undefined) {
      // Not heard from yet (just added, or cold): as Finagle's PeakEwma, it gets one request to
      // learn its latency, and nothing more while that one is out. Costed at a 1 ms default
      // whatever its queue, it looked faster than every warm backend, and a new instance took
      // every request of 6 clients before its first answer.
      if (backend.inFlight > 0) return UNKNOWN_BUSY + backend.inFlight / backend.weight;
      return this.#defaultRtt / backend.weight;
    }
    const cost = decayedCost(state, this.#pickNow, this.#decay);
    return (Math.max(cost, Number.MIN_VALUE) * (backend.inFlight + 1)) / backend.weight;
  };
}
