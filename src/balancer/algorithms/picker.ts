import type { Backend } from '../types.js';

/** PickContext carries per-request facts a picker may use. */
export interface PickContext {
  /** Backends this request already failed on; a retry must go elsewhere. */
  readonly exclude?: ReadonlySet<Backend> | undefined;
  /** The request's hash key (consistent-hash only; see `Picker.hashKey`). */
  readonly key?: string | undefined;
}

/** HashKeySource says what a hashing picker hashes a request on. */
export type HashKeySource =
  | { readonly kind: 'ip' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

/**
 * Picker chooses the backend for the next request from the eligible ones. Implementations are pure
 * of I/O: no sockets and no ambient clock or randomness (both are injected); their only state is
 * what they remember between picks. One picker serves one group.
 */
export interface Picker {
  readonly name: string;
  /** When set, the proxy computes `PickContext.key` from this source for every request. */
  readonly hashKey?: HashKeySource;
  /** pick returns the chosen backend, or undefined when none (or only excluded ones) remain. */
  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined;
  /** observe, when present, is told each attempt's time to response headers, in ms. */
  observe?(backend: Backend, latencyMs: number): void;
}

/** PickerOptions are the injectable parts of pickers. */
export interface PickerOptions {
  /** Uniform random in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /** Monotonic clock in ms. @defaultValue performance.now */
  now?: () => number;
  /** What consistent-hash hashes on. @defaultValue { kind: 'ip' } */
  hashKey?: HashKeySource;
  /** EWMA decay time constant, ms. @defaultValue 10000 */
  ewmaDecay?: number;
  /** Latency assumed for an idle backend with no observation yet, ms (one with a request out waits for its answer). @defaultValue 1 */
  ewmaDefaultRtt?: number;
  /** Maglev lookup table size, a prime well above 100 × backends. @defaultValue 65537 */
  tableSize?: number;
}
