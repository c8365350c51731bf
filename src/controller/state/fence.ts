import { StateError } from './types.js';

/**
 * WriteFence is the fencing token a store's writes carry, and who is told when the lease refuses
 * one. The comparison itself is the store's (in the write's statement or script): this only keeps
 * the token and turns a refusal into a StateError `STATE_FENCED`.
 */
export class WriteFence {
  #token: number | undefined;
  #holder: string | undefined;
  #listener: ((err: StateError) => void) | undefined;

  /** token is the fencing token writes carry now; undefined while standing by (every write refused). */
  get token(): number | undefined {
    return this.#token;
  }

  /** holder is the lease holder of this tenure, when the leadership gave it (see StateStore.fence). */
  get holder(): string | undefined {
    return this.#holder;
  }

  set(token: number | undefined, holder?: string): void {
    this.#token = token;
    this.#holder = token === undefined ? undefined : holder;
  }

  onRefused(listener: (err: StateError) => void): void {
    this.#listener = listener;
  }

  /**
   * refused builds the error of a write the lease refused (`current` is the lease's token, if the
   * store read it) and tells the listener, whose failure must not hide the refusal.
   */
  refused(what: string, token: number | undefined, current?: string | number | null): StateError {
    const err = new StateError(
      'STATE_FENCED',
      token === undefined
        ? `state: ${what} refused: this controller holds no lease`
        : `state: ${what} refused: fencing token ${token} is no longer the lease's (now ${current ?? 'none'})`,
    );
    try {
      this.#listener?.(err);
    } catch {}
    return err;
  }
}
