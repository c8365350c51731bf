import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { LeaseGrant, LeaseStore } from './lease/index.js';

/** LeaderElectorOptions configures a LeaderElector. */
export interface LeaderElectorOptions {
  store: LeaseStore;
  /** This controller's id in the lease, unique per process (host, pid, random). */
  holder: string;
  /** Lease lifetime in ms. */
  ttl: number;
  /**
   * How long after sending the last successful renewal (or acquisition) the leader keeps acting:
   * it must stop before the store can expire the lease, and the rest of the ttl is the margin that
   * covers a fence check passed just before it and the action that follows, a late timer, and the
   * two clocks' rates. As client-go's leaderelection (renewDeadline 10 s of a 15 s lease).
   * @defaultValue ttl * 2 / 3
   */
  renewDeadline?: number;
  /** Pause between renewals (leader) or attempts (standby). @defaultValue ttl / 6 */
  interval?: number;
}

/** LeaderEvents: `elected` with the new tenure, `deposed` with why, `error` for a failed lease call. */
export interface LeaderEvents {
  elected: [grant: LeaseGrant];
  deposed: [reason: string];
  error: [err: Error];
}

/**
 * LeaderElector campaigns for the lease and keeps it: a standby tries to acquire it every
 * `interval`, the leader renews it every `interval` (ttl/6, so a renewal may fail, even time out,
 * and the next still lands within the deadline). Leadership ends the moment a renewal is refused,
 * or when no renewal has succeeded for `renewDeadline` (2/3 of the ttl, measured on the monotonic
 * clock from when the last successful call was SENT, which the store received later, so its expiry
 * is later still), even if the store cannot be reached to say so: then `deposed` fires and the
 * caller must stop acting — a third of the ttl before the store can hand the lease to anyone else.
 * Before, the deadline was the whole ttl: the leader stood down at the very moment the store could
 * expire its lease, and a fence check passed in the last milliseconds let an action run on past it.
 */
export class LeaderElector extends EventEmitter<LeaderEvents> {
  readonly holder: string;
  readonly #store: LeaseStore;
  readonly #ttl: number;
  readonly #renewDeadline: number;
  readonly #interval: number;
  #grant: LeaseGrant | undefined;
  #validUntil = 0;
  #watchdog: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #closed = false;

  constructor(options: LeaderElectorOptions) {
    super();
    if (!(options.ttl > 0)) throw new RangeError(`lease ttl must be > 0, got ${options.ttl}`);
    this.#store = options.store;
    this.holder = options.holder;
    this.#ttl = options.ttl;
    this.#renewDeadline = options.renewDeadline ?? (options.ttl * 2) / 3;
    if (!(this.#renewDeadline > 0 && this.#renewDeadline < options.ttl))
      throw new RangeError(
        `lease renewDeadline must be > 0 and < the ttl (${options.ttl} ms), got ${this.#renewDeadline}`,
      );
    this.#interval = options.interval ?? options.ttl / 6;
  }

  /** grant is the current tenure while leading (locally unexpired), else undefined. */
  get grant(): LeaseGrant | undefined {
    return this.#grant && performance.now() < this.#validUntil ? this.#grant : undefined;
  }

  /** start makes the first attempt (resolves after it, leader or not) and keeps campaigning. */
  async start(): Promise<void> {
    await this.#runRound();
  }

  /** close stops campaigning and, if leading, releases the lease so a standby takes over at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#round;
    const grant = this.#grant;
    this.#stepDown();
    if (grant) await this.#store.release(grant).catch((err: Error) => this.#error(err));
  }

  /**
   * depose stops leading now, as a refused renewal does (`deposed` fires), when something else
   * showed that the lease moved on (a state write it refused); campaigning goes on.
   */
  depose(reason: string): void {
    this.#depose(reason);
  }

  async #runRound(): Promise<void> {
    if (this.#closed) return;
    this.#round = this.#attempt();
    await this.#round;
    this.#round = undefined;
    if (!this.#closed) {
      this.#timer = setTimeout(() => void this.#runRound(), this.#interval);
    }
  }

  async #attempt(): Promise<void> {
    const sentAt = performance.now();
    const grant = this.#grant;
    if (grant) {
      let renewed: boolean | undefined;
      try {
        renewed = await this.#store.renew(grant, this.#ttl);
      } catch (err) {
        // Unknown: keep trying; the watchdog deposes us when the ttl runs out first.
        this.#error(err);
      }
      if (this.#grant !== grant || this.#closed) return;
      if (renewed === true) this.#extend(sentAt);
      else if (renewed === false) this.#depose('the lease was taken over or expired');
      return;
    }
    let won: LeaseGrant | undefined;
    try {
      won = await this.#store.acquire(this.holder, this.#ttl);
    } catch (err) {
      this.#error(err);
    }
    if (!won) return;
    if (this.#closed) {
      // Won after close() was called (a shutdown during the campaign's call): give it up, as close
      // does a held lease, or every standby waits out the whole ttl for a controller that is gone.
      await this.#store.release(won).catch((err: Error) => this.#error(err));
      return;
    }
    this.#grant = won;
    this.#extend(sentAt);
    this.emit('elected', won);
  }

  #extend(sentAt: number): void {
    this.#validUntil = sentAt + this.#renewDeadline;
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(
      () =>
        this.#depose(
          `no renewal succeeded within the renew deadline (${Math.round(this.#renewDeadline)} ms of the ${this.#ttl} ms lease)`,
        ),
      Math.max(0, this.#validUntil - performance.now()),
    );
  }

  #depose(reason: string): void {
    if (!this.#grant) return;
    this.#stepDown();
    this.emit('deposed', reason);
  }

  #stepDown(): void {
    this.#grant = undefined;
    this.#validUntil = 0;
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }

  #error(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
