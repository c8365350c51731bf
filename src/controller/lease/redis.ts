import type { Redis } from 'ioredis';
import { type ClosedReason, closedReason } from '../../redis-closed.js';
import { createRedis } from '../../redis-secrets.js';
import { ACQUIRE, RELEASE, RENEW } from './scripts.js';
import { LeaseError, type LeaseGrant, type LeaseHolder, type LeaseStore } from './types.js';

/** RedisLeaseOptions configures a RedisLease. */
export interface RedisLeaseOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Key prefix: the lease is `<name>:leader`, the fencing counter `<name>:fencing-token`. @defaultValue 'scaleplane' */
  name?: string;
  /** A command that takes longer fails, so a hung connection cannot stretch a lease. @defaultValue 2000 (ms) */
  commandTimeout?: number;
}

/**
 * RedisLease is the leader lease in Redis: one key holding `<token>:<holder>` with a PX expiry,
 * taken with SET NX PX and renewed or released by compare-and-set scripts; the fencing token comes
 * from INCR on a counter that never expires.
 */
export class RedisLease implements LeaseStore {
  readonly backend = 'redis';
  readonly #redis: Redis;
  readonly #key: string;
  readonly #counter: string;
  /**
   * The highest fencing token this client has seen (won, or read as another's): the floor of the
   * next one it takes, so tokens never go back when Redis lost the counter (see ACQUIRE).
   */
  #seen = 0;
  #closed = false;
  readonly #closedReason: ClosedReason;

  constructor(options: RedisLeaseOptions) {
    const name = options.name ?? 'scaleplane';
    this.#key = `${name}:leader`;
    this.#counter = `${name}:fencing-token`;
    // Its errors never carry the password (see createRedis): a refused AUTH held it in its fields.
    this.#redis = createRedis(
      options.url,
      {
        lazyConnect: true,
        // A lease call must answer now or fail: a queued renew that lands late would be a lie.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: options.commandTimeout ?? 2000,
        connectTimeout: options.commandTimeout ?? 2000,
      },
      (detail) => new LeaseError('LEASE_INVALID', `lease: url: ${detail}`),
    );
    // Connection errors surface as failed calls; ioredis keeps reconnecting meanwhile.
    this.#closedReason = closedReason(this.#redis);
  }

  /** connect opens the connection; rejects LEASE_UNAVAILABLE when Redis does not answer. */
  async connect(): Promise<void> {
    try {
      await this.#redis.connect();
    } catch (err) {
      // "Connection is closed." alone hid a wrong password (WRONGPASS): name why it closed.
      const cause = this.#closedReason(err);
      throw new LeaseError('LEASE_UNAVAILABLE', `lease: cannot reach Redis (${(cause as Error).message})`, {
        cause,
      });
    }
  }

  async acquire(holder: string, ttlMs: number): Promise<LeaseGrant | undefined> {
    checkHolder(holder);
    const [won, token, current] = (await this.#redis.eval(
      ACQUIRE,
      2,
      this.#key,
      this.#counter,
      holder,
      Math.ceil(ttlMs),
      this.#seen,
    )) as [number, number, string];
    this.#see(Number(token));
    return won === 1 ? { holder: current, token } : undefined;
  }

  async renew(grant: LeaseGrant, ttlMs: number): Promise<boolean> {
    return (await this.#redis.eval(RENEW, 1, this.#key, value(grant), Math.ceil(ttlMs))) === 1;
  }

  async release(grant: LeaseGrant): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.#key, value(grant));
  }

  async check(grant: LeaseGrant): Promise<boolean> {
    // An expired key is gone: expiry is the server's, not ours. The whole `<token>:<holder>`, not
    // the token alone: after a failover to a replica that had not received the lease's latest
    // writes (its SET and the counter's INCR), the next acquirer is given the same token again.
    return (await this.#redis.get(this.#key)) === value(grant);
  }

  async current(): Promise<LeaseHolder | undefined> {
    const [[, current], [, pttl]] = (await this.#redis.multi().get(this.#key).pttl(this.#key).exec()) as [
      [unknown, string | null],
      [unknown, number],
    ];
    if (current === null || pttl < 0) return undefined;
    const sep = current.indexOf(':');
    const token = Number(current.slice(0, sep));
    this.#see(token);
    return { token, holder: current.slice(sep + 1), expiresInMs: pttl };
  }

  /** highestToken is the highest fencing token this client has seen (0: none yet). */
  get highestToken(): number {
    return this.#seen;
  }

  #see(token: number): void {
    if (Number.isSafeInteger(token) && token > this.#seen) this.#seen = token;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}

function value(grant: LeaseGrant): string {
  return `${grant.token}:${grant.holder}`;
}

/** checkHolder refuses empty holder ids, which would make every controller the same one. */
export function checkHolder(holder: string): void {
  if (holder.length === 0) throw new LeaseError('LEASE_INVALID', 'lease: holder id is empty');
}
