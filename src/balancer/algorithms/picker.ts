import type { Backend } from '../types.js';

/** PickContext carries per-request facts a picker may use. */
export interface PickContext {
  /** Backends this request already failed on; a retry must go elsewhere. */
  readonly exclude?: ReadonlySet<Backend>;
}

/**
 * Picker chooses the backend for the next request from the eligible ones. Implementations are pure:
 * no sockets, no clocks, no randomness; their only state is what they remember between picks.
 * One picker serves one group.
 */
export interface Picker {
  readonly name: string;
  /** pick returns the chosen backend, or undefined when none (or only excluded ones) remain. */
  pick<B extends Backend>(backends: readonly B[], ctx?: PickContext): B | undefined;
}
