import type { InstanceState } from './types.js';

/**
 * ReturnToService puts back into the balancer instances a provider drained for an operation that
 * did not happen (a scale-in termination or a replacement that failed). Draining is one-way in the
 * balancer's pool (a member never returns from it to ready), so such an instance, still running
 * and counted in the group's size, would take no request again for as long as it ran. Listed once
 * as `starting` (see `state`), the pool forgets it; listed as it is again, it is a member anew.
 *
 * A new member starts out healthy and takes requests before its first check, so an instance drained
 * for a replacement (it fails its health checks) is only *held* when that replacement fails: out of
 * rotation, still a candidate for the next try, until `returnHeld` once it passes its checks again.
 */
export class ReturnToService {
  /** Listed as `starting` for the moment of their return. */
  readonly #returning = new Set<string>();
  /** Drained for a replacement that failed: out of rotation until they pass their checks again. */
  readonly #held = new Set<string>();

  /** state is how instance `id`, which the engine shows in `state`, is listed now. */
  state(id: string, state: InstanceState): InstanceState {
    return this.#returning.has(id) ? 'starting' : state;
  }

  /**
   * returnNow puts `id` back at once, `emitChange` telling the balancer each listing; one held
   * for a failed replacement stays out (it failed its checks: requests sent to it would fail).
   */
  returnNow(id: string, emitChange: () => void): void {
    if (this.#held.has(id)) return;
    this.#returning.add(id);
    emitChange();
    this.#returning.delete(id);
    emitChange();
  }

  /** hold keeps `id`, drained for a replacement that failed, out of rotation until `returnHeld`. */
  hold(id: string): void {
    this.#held.add(id);
  }

  /** held says whether `id` is held out of rotation after a replacement that failed. */
  held(id: string): boolean {
    return this.#held.has(id);
  }

  /** forget drops `id` (replaced, gone, or back in rotation by the engine's own doing). */
  forget(id: string): void {
    this.#held.delete(id);
  }

  /**
   * returnHeld puts a held `id` back once it passes its health checks again, if `ready` (still
   * serving on the engine: neither gone nor on its way out). Returns whether it did.
   */
  returnHeld(id: string, ready: boolean, emitChange: () => void): boolean {
    if (!this.#held.delete(id)) return false;
    if (!ready) return false;
    this.returnNow(id, emitChange);
    return true;
  }
}
