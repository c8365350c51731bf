/**
 * LeaseGrant is a won (or renewed) leader lease: who holds it and the fencing token of this
 * tenure. The token grows with every acquisition, so an older holder's token is always smaller.
 */
export interface LeaseGrant {
  holder: string;
  token: number;
}

/** LeaseHolder describes the current holder of a lease, as the store sees it. */
export interface LeaseHolder extends LeaseGrant {
  /** Milliseconds until the lease expires unless renewed (store clock). */
  expiresInMs: number;
}

/**
 * LeaseStore is one backend of the leader lease (Redis or PostgreSQL). Every method is one atomic
 * round trip; expiry is judged by the store's clock, so controllers on different hosts agree.
 */
export interface LeaseStore {
  readonly backend: 'redis' | 'postgres';
  /**
   * acquire takes the lease for `holder` when it is free or expired, with a new fencing token
   * (previous + 1). When `holder` already holds it, it is renewed and keeps its token. Resolves
   * undefined when someone else holds it.
   */
  acquire(holder: string, ttlMs: number): Promise<LeaseGrant | undefined>;
  /** renew extends the lease by `ttlMs` if `grant` is still current and unexpired; false otherwise. */
  renew(grant: LeaseGrant, ttlMs: number): Promise<boolean>;
  /** release gives the lease up at once if `grant` is still current (a clean handover). */
  release(grant: LeaseGrant): Promise<void>;
  /**
   * check says whether `grant` is the current, unexpired lease: its fencing token AND its holder,
   * the fence. The holder too: a store that lost its latest writes (a Redis replica promoted
   * before they reached it) hands the next acquirer the token the old leader still holds.
   */
  check(grant: LeaseGrant): Promise<boolean>;
  /** current describes the live lease, or undefined when nobody holds it. */
  current(): Promise<LeaseHolder | undefined>;
  /** close disconnects; safe to call twice. */
  close(): Promise<void>;
}

/** LeaseError is a lease store that cannot be used as configured (bad URL, unreachable at start). */
export class LeaseError extends Error {
  readonly code: 'LEASE_UNAVAILABLE' | 'LEASE_INVALID';
  constructor(code: LeaseError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LeaseError';
    this.code = code;
  }
}
