import { performance } from 'node:perf_hooks';
import { parseAddress } from './address.js';
import { BalancerError } from './errors.js';
import { inPanic, type OutlierCounters } from './outlier.js';
import { slowStartWeight } from './slow-start.js';
import type { Backend, BackendInstance, BackendStats } from './types.js';

/** PoolMember is the pool's own, mutable record of a backend. */
export class PoolMember implements Backend, OutlierCounters {
  readonly id: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Effective weight: `baseWeight`, or less while slow start ramps it up. */
  weight: number;
  /** Weight the provider gave it. */
  baseWeight: number;
  inFlight = 0;
  healthy = true;
  draining = false;
  /** Taken out by passive outlier detection until `ejectedUntil` (ms). */
  ejected = false;
  ejectedUntil = 0;
  ejections = 0;
  lastRecovery: number | undefined;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  /** When slow start began (ms), or undefined when it takes its full weight. */
  warmingSince: number | undefined;
  /** Ejection timer, owned by the balancer. */
  ejectionTimer: NodeJS.Timeout | undefined;
  /** Set once the instance left the pool; requests already on it still finish. */
  removed = false;
  /** Resolvers of drain() calls waiting for inFlight to reach 0. */
  waiters: (() => void)[] | undefined;

  constructor(id: string, address: string, weight: number) {
    const { host, port } = parseAddress(address);
    this.id = id;
    this.address = address;
    this.host = host;
    this.port = port;
    this.weight = weight;
    this.baseWeight = weight;
  }

  /** snapshot copies the fields `stats()` reports. */
  snapshot(): BackendStats {
    return {
      id: this.id,
      address: this.address,
      inFlight: this.inFlight,
      healthy: this.healthy,
      draining: this.draining,
      ejected: this.ejected,
      weight: this.weight,
    };
  }
}

/** PoolChange is what one `setInstances` call added and removed. */
export interface PoolChange {
  readonly added: readonly PoolMember[];
  readonly removed: readonly PoolMember[];
}

/** PoolOptions configures a Pool. */
export interface PoolOptions {
  /** Longest wait of `drain()` for in-flight requests. @defaultValue 30000 (ms) */
  drainTimeout?: number;
  /** Called when a drain gives up while requests are still in flight. */
  onDrainTimeout?: (backend: Backend) => void;
  /** Slow-start window for members added to a non-empty pool, ms; 0 = off. @defaultValue 0 */
  slowStart?: number;
  /** Below this percent of usable members, all non-draining members are used. @defaultValue 0 (never) */
  panicThreshold?: number;
  /** Monotonic clock, ms. @defaultValue performance.now */
  now?: () => number;
}

// Slow-start weights are recomputed at most this often: picks need not see a smoother ramp.
const WEIGHT_REFRESH_MS = 100;

/**
 * Pool is the membership of one group: which backends exist, which may receive requests, and how
 * many requests each has in flight. It owns draining; pickers only ever see `eligible()`.
 */
export class Pool {
  readonly #members = new Map<string, PoolMember>();
  readonly #drainTimeout: number;
  readonly #onDrainTimeout: ((backend: Backend) => void) | undefined;
  readonly #slowStart: number;
  readonly #panicThreshold: number;
  /** The pool's clock, ms. */
  readonly now: () => number;
  // Rebuilt only when membership, health or draining changes, so a pick allocates nothing.
  #eligible: PoolMember[] | undefined;
  #warming = 0;
  #weightsAt = 0;
  /** Whether the last `eligible()` rebuild found the pool in panic. */
  panic = false;

  constructor(options: PoolOptions = {}) {
    const drainTimeout = options.drainTimeout ?? 30_000;
    if (!Number.isFinite(drainTimeout) || drainTimeout < 0) {
      throw new BalancerError('BALANCER_INVALID_ARGUMENT', `drainTimeout must be >= 0, got ${drainTimeout}`);
    }
    this.#drainTimeout = drainTimeout;
    this.#onDrainTimeout = options.onDrainTimeout;
    this.#slowStart = options.slowStart ?? 0;
    this.#panicThreshold = options.panicThreshold ?? 0;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * setInstances makes the pool match a provider's instance list: `ready` instances are added or
   * kept, `draining` ones stop receiving picks, and the rest (and vanished ones) are removed.
   * Addresses are validated before anything changes.
   */
  setInstances(instances: readonly BackendInstance[]): PoolChange {
    const wanted = new Map<string, BackendInstance>();
    for (const instance of instances) {
      if (instance.state !== 'ready' && instance.state !== 'draining') continue;
      parseAddress(instance.address);
      const weight = instance.weight ?? 1;
      if (!Number.isInteger(weight) || weight < 1) {
        throw new BalancerError(
          'BALANCER_INVALID_ARGUMENT',
          `weight of ${instance.id} must be a positive integer`,
        );
      }
      wanted.set(instance.id, instance);
    }
    const added: PoolMember[] = [];
    const removed: PoolMember[] = [];
    // The first members of a group take traffic at full weight: there is no one else to take it.
    const warm = this.#slowStart > 0 && this.#members.size > 0;
    for (const member of this.#members.values()) {
      const instance = wanted.get(member.id);
      if (instance === undefined || instance.address !== member.address) {
        this.#remove(member);
        removed.push(member);
      }
    }
    for (const instance of wanted.values()) {
      const member = this.#members.get(instance.id);
      if (member === undefined) {
        // An instance first seen while draining has nothing of ours in flight: nothing to add.
        if (instance.state !== 'ready') continue;
        const fresh = new PoolMember(instance.id, instance.address, instance.weight ?? 1);
        if (warm) {
          fresh.warmingSince = this.now();
          fresh.weight = slowStartWeight(fresh.baseWeight, 0, this.#slowStart);
          this.#warming++;
        }
        this.#members.set(fresh.id, fresh);
        added.push(fresh);
      } else {
        member.baseWeight = instance.weight ?? 1;
        if (member.warmingSince === undefined) member.weight = member.baseWeight;
        // Draining is one-way: an instance never returns from it to ready.
        if (instance.state === 'draining') member.draining = true;
      }
    }
    this.#eligible = undefined;
    return { added, removed };
  }

  /** clear removes every member, as when the group goes away. */
  clear(): PoolChange {
    const removed = [...this.#members.values()];
    for (const member of removed) this.#remove(member);
    this.#eligible = undefined;
    return { added: [], removed };
  }

  /** get returns the member with this id, if any. */
  get(id: string): PoolMember | undefined {
    return this.#members.get(id);
  }

  /** members lists every member, eligible or not, in the order they were added. */
  members(): PoolMember[] {
    return [...this.#members.values()];
  }

  /**
   * eligible lists the members that may take a new request: healthy, not ejected and not draining;
   * in panic (too few of those), every member that is not draining. The same array is returned
   * until something changes, so pickers may cache on its identity.
   */
  eligible(): readonly PoolMember[] {
    if (this.#warming > 0) this.#refreshWeights();
    if (this.#eligible === undefined) {
      const usable: PoolMember[] = [];
      const candidates: PoolMember[] = [];
      for (const member of this.#members.values()) {
        if (member.draining) continue;
        candidates.push(member);
        if (member.healthy && !member.ejected) usable.push(member);
      }
      this.panic = inPanic(usable.length, candidates.length, this.#panicThreshold);
      this.#eligible = this.panic ? candidates : usable;
    }
    return this.#eligible;
  }

  /** ejectedCount is how many non-draining members are ejected now. */
  ejectedCount(): number {
    let n = 0;
    for (const member of this.#members.values()) if (member.ejected && !member.draining) n++;
    return n;
  }

  /** activeCount is how many members are not draining. */
  activeCount(): number {
    let n = 0;
    for (const member of this.#members.values()) if (!member.draining) n++;
    return n;
  }

  /** setEjected takes a member out of (or back into) rotation for outlier detection. */
  setEjected(member: PoolMember, ejected: boolean, until = 0): void {
    member.ejected = ejected;
    member.ejectedUntil = until;
    if (ejected) member.ejections++;
    else member.lastRecovery = this.now();
    member.consecutive5xx = 0;
    member.consecutiveGateway = 0;
    this.#eligible = undefined;
  }

  #refreshWeights(): void {
    const now = this.now();
    if (now - this.#weightsAt < WEIGHT_REFRESH_MS) return;
    this.#weightsAt = now;
    for (const member of this.#members.values()) {
      if (member.warmingSince === undefined) continue;
      const elapsed = now - member.warmingSince;
      member.weight = slowStartWeight(member.baseWeight, elapsed, this.#slowStart);
      if (elapsed >= this.#slowStart) {
        member.warmingSince = undefined;
        this.#warming--;
      }
    }
  }

  /** warmingFor says how long ago member `id`'s slow start began, or undefined when it has none. */
  warmingFor(id: string): number | undefined {
    const since = this.#members.get(id)?.warmingSince;
    if (since === undefined) return undefined;
    const elapsed = this.now() - since;
    return elapsed < this.#slowStart ? elapsed : undefined;
  }

  /**
   * warm puts member `id` in slow start as if it had begun `elapsed` ms ago; returns whether it
   * did (false for an unknown id, or when the ramp would be over already).
   */
  warm(id: string, elapsed: number): boolean {
    const member = this.#members.get(id);
    if (member === undefined || !(elapsed >= 0) || elapsed >= this.#slowStart) return false;
    if (member.warmingSince === undefined) this.#warming++;
    member.warmingSince = this.now() - elapsed;
    member.weight = slowStartWeight(member.baseWeight, elapsed, this.#slowStart);
    this.#eligible = undefined;
    return true;
  }

  /** setHealthy records a health-check verdict; it returns whether anything changed. */
  setHealthy(id: string, healthy: boolean): boolean {
    const member = this.#members.get(id);
    if (member === undefined || member.healthy === healthy) return false;
    member.healthy = healthy;
    this.#eligible = undefined;
    return true;
  }

  /** acquire counts a request picked for this member as in flight. */
  acquire(member: PoolMember): void {
    member.inFlight++;
  }

  /** release ends an in-flight request of this member and wakes drains waiting for zero. */
  release(member: PoolMember): void {
    member.inFlight--;
    if (member.inFlight === 0 && member.waiters !== undefined) {
      const waiters = member.waiters;
      member.waiters = undefined;
      for (const resolve of waiters) resolve();
    }
  }

  /**
   * drain stops new picks for a member and resolves once its in-flight count is 0, or after
   * `drainTimeout` ms. An unknown id has nothing in flight and resolves at once.
   */
  drain(id: string): Promise<void> {
    const member = this.#members.get(id);
    if (member === undefined) return Promise.resolve();
    if (!member.draining) {
      member.draining = true;
      this.#eligible = undefined;
    }
    return waitIdle(member, this.#drainTimeout, this.#onDrainTimeout);
  }

  #remove(member: PoolMember): void {
    if (member.warmingSince !== undefined) {
      member.warmingSince = undefined;
      this.#warming--;
    }
    clearTimeout(member.ejectionTimer);
    member.removed = true;
    this.#members.delete(member.id);
  }
}

function waitIdle(
  member: PoolMember,
  timeoutMs: number,
  onTimeout: ((backend: Backend) => void) | undefined,
): Promise<void> {
  if (member.inFlight === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      const index = member.waiters?.indexOf(done) ?? -1;
      if (index >= 0) member.waiters!.splice(index, 1);
      onTimeout?.(member);
      resolve();
    }, timeoutMs);
    // In-flight requests hold their own sockets open; the timer alone must not keep a process up.
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    member.waiters ??= [];
    member.waiters.push(done);
  });
}
