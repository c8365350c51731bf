import type { SqlDialect } from './classify.js';
import { type DatabaseError, ReplicaError } from './errors.js';
import type { Statement } from './statement.js';

/** PRIMARY is the target name of the primary; replicas may not use it. */
export const PRIMARY = 'primary';

/** ReplicaSample is one probe's finding for one replica. */
export interface ReplicaSample {
  name: string;
  reachable: boolean;
  /** ms; null = unknown (never guessed as 0). */
  lag: number | null;
  /** Replayed position (LSN / GTID), or null. */
  position: string | null;
  /** Which measurement gave `lag` (`caught-up`, `wal-history`, `heartbeat`, `replica-status`, …). */
  source: string;
  error?: ReplicaError;
  /**
   * The server takes writes (PostgreSQL not in recovery, MySQL/MariaDB read_only OFF): the primary
   * itself or a promoted replica, not a replica. No reads, whatever its lag.
   */
  writable?: boolean;
}

/** unreachableSample is what a probe reports for a replica it could not measure: lag and position unknown. */
export function unreachableSample(name: string, error: ReplicaError): ReplicaSample {
  return { name, reachable: false, lag: null, position: null, source: 'none', error };
}

/**
 * otherClusterSample is what a probe reports for a replica that replicates another cluster (`what`
 * says how that showed): reachable, but its lag against this primary means nothing, so no reads.
 */
export function otherClusterSample(name: string, what: string): ReplicaSample {
  return {
    name,
    reachable: true,
    lag: null,
    position: null,
    source: 'other-cluster',
    error: new ReplicaError(
      'REPLICA_PROBE',
      `${name} replicates another cluster (${what}): no reads until it replicates the primary`,
    ),
  };
}

/**
 * writableSample is what a probe reports for a "replica" that takes writes (`what` names the server
 * and says how that showed). Reads there would serve a server that may have diverged (a promoted
 * ex-replica), and a statement classified a read that writes after all (a function with side effects)
 * would write there instead of being refused: no reads.
 */
export function writableSample(name: string, what: string): ReplicaSample {
  return {
    name,
    reachable: true,
    lag: null,
    position: null,
    source: 'writable',
    writable: true,
    error: new ReplicaError(
      'REPLICA_WRITABLE',
      `${what}: it takes writes, so it is a primary (the primary itself, or a promoted replica), not a replica; no reads until it is read-only`,
    ),
  };
}

/** primaryReadOnlyError is the probe's report of a primary that takes no writes (`what` says why). */
export function primaryReadOnlyError(what: string): ReplicaError {
  return new ReplicaError(
    'REPLICA_PRIMARY_READ_ONLY',
    `${what}: it takes no writes (a standby, as after a failover or during a switchover); writes are refused until it takes them again or the router is given the new primary`,
  );
}

/** describeAddress is `name (host:port)`, or the name alone when the address is unknown. */
export function describeAddress(name: string, address: string | null): string {
  return address === null ? name : `${name} (${address})`;
}

/** ProbeRound is one probe of the primary and every replica. */
export interface ProbeRound {
  primary: {
    reachable: boolean;
    position: string | null;
    error?: ReplicaError;
    /**
     * The primary refused the probe in a way only a running server does (no connection slot left:
     * PostgreSQL 53300, MySQL 1040/1203): it commits other clients' writes meanwhile.
     */
    up?: boolean;
    /**
     * The primary answered, but takes no writes (PostgreSQL in recovery, MySQL/MariaDB read_only ON);
     * `error` says so, naming the host. Replicas' lag still counts, measured from their side.
     */
    readOnly?: boolean;
    /**
     * Which server answered, as the driver tells servers apart (PostgreSQL: the timeline it writes on
     * and the system identifier; MariaDB: `@@server_id`; MySQL: `@@server_uuid`), read with the
     * role; absent or null when unknown. The same server restarted keeps it; a promoted replica, a
     * server restored from a backup (PostgreSQL) or another server behind the address does not.
     */
    server?: string | null;
  };
  replicas: ReplicaSample[];
}

/** WrittenAt is where a write landed: the primary's position just after it, and which server that was. */
export interface WrittenAt {
  /** The primary's write position (LSN / GTID), or null. */
  position: string | null;
  /** The server it was read on, as ProbeRound's `primary.server` names it; null when unknown. */
  server: string | null;
}

/** Queryable is anything that runs one statement: a pinned transaction connection, for one. */
export interface Queryable<R> {
  query(statement: Statement, params?: readonly unknown[]): Promise<R>;
}

/** TransactionTarget is where a transaction runs, and how. */
export interface TransactionTarget {
  /** `primary` or a replica name. */
  target: string;
  /** A read-only snapshot: REPEATABLE READ, READ ONLY (pg); WITH CONSISTENT SNAPSHOT, READ ONLY (MySQL). */
  readOnly: boolean;
  /** Wraps the checkout and every statement (BEGIN to COMMIT or ROLLBACK): stops waiting on a lost replica. */
  guard?: <T>(statement: Promise<T>) => Promise<T>;
  /**
   * Asked once the transaction ended: true when its statements changed the connection's session
   * (SET, USE …), which then is closed instead of going back to the pool. @defaultValue never
   */
  discard?: () => boolean;
}

/**
 * ReplicaDriver is what the router needs from a database client library. One implementation per
 * folder (`postgres/`, `mysql/`); the router owns routing, probing cadence, sessions and metrics.
 */
export interface ReplicaDriver<R> {
  readonly dialect: SqlDialect;
  readonly replicaNames: readonly string[];
  /** Gives the driver where to report background errors (idle connections dying, heartbeat failures). */
  attach(report: (error: ReplicaError) => void): void;
  /** Runs once before the first probe (flavour detection, heartbeat table). */
  prepare(): Promise<void>;
  /**
   * Runs one statement on `target` (`primary` or a replica name) through its pool, on a connection
   * opened since the target's last `drain`. `write`: the router sends it as a write.
   */
  query(
    target: string,
    statement: Statement,
    params: readonly unknown[] | undefined,
    write?: boolean,
  ): Promise<R>;
  /** Runs `fn` inside BEGIN … COMMIT on one connection of `where.target`; ROLLBACK when it throws. */
  transaction<T>(fn: (tx: Queryable<R>) => Promise<T>, where: TransactionTarget): Promise<T>;
  /** Reads the primary's position and each replica's lag; every call bounded by `timeout` ms. */
  probe(now: number, timeout: number): Promise<ProbeRound>;
  /**
   * Drops `target`'s probe connection, so that the next round connects and logs in afresh, as the
   * pool's new connections do. A driver that probes through the pool itself has nothing to drop.
   */
  renewProbe(target: string): void;
  /**
   * Retires every connection `target`'s pool has open now: each is dropped instead of used when next
   * checked out (the primary's role changed, so its address may lead to another server since).
   */
  drain(target: string): void;
  /**
   * The primary's current write position, read just after a write, and which server gave it (in the
   * same statement): a server other than the last probe round's is a failover no round has seen yet.
   */
  writePosition(): Promise<WrittenAt>;
  /** Asks a replica whether it has replayed `position`, waiting at most `timeout` ms. */
  checkReplayed(
    replica: string,
    position: string,
    timeout: number,
  ): Promise<{ replayed: boolean; position: string | null }>;
  /** Pure: has a replica at `replayed` got as far as the position `write` (lag, identity)? */
  covers(replayed: string, write: string): boolean;
  /**
   * Pure: has a replica at `replayed` the very write that left the primary at `write` (read-your-
   * writes)? Stricter than `covers` where positions of forked histories compare (MariaDB's sequence
   * numbers). @defaultValue covers
   */
  hasWrite?(replayed: string, write: string): boolean;
  /** Normalises a driver error thrown while talking to `target`. */
  normalizeError(error: unknown, target: string): DatabaseError;
  /** Whether a read that failed this way may be tried again elsewhere (server gone, not a bad query). */
  isRetryableRead(error: DatabaseError): boolean;
  /** Whether a replica refused the statement because it writes (read-only server): it did not run there. */
  refusedAsWrite(error: DatabaseError): boolean;
  /** Stops background work; never ends the pools, which belong to the caller. */
  close(): Promise<void>;
}

/**
 * TargetPools holds the caller's pool for each target a driver talks to: `primary` and every replica
 * by name. Asking for a name it does not hold is a REPLICA_INVALID_ARGUMENT, never an undefined pool.
 */
export class TargetPools<P> {
  readonly replicaNames: readonly string[];
  readonly #pools: ReadonlyMap<string, P>;

  constructor(primary: P, replicas: Record<string, P>) {
    assertPool('primary', primary);
    if (typeof replicas !== 'object' || replicas === null || Array.isArray(replicas))
      throw new ReplicaError(
        'REPLICA_INVALID_ARGUMENT',
        `replicas must be an object of pools by name ({ r1: pool }), got ${describe(replicas)}`,
      );
    for (const [name, pool] of Object.entries(replicas)) assertPool(`replicas.${name}`, pool);
    this.replicaNames = Object.keys(replicas);
    this.#pools = new Map([[PRIMARY, primary], ...Object.entries(replicas)]);
  }

  /** get is the pool of `target`. */
  get(target: string): P {
    const pool = this.#pools.get(target);
    if (pool === undefined) throw new ReplicaError('REPLICA_INVALID_ARGUMENT', `unknown target "${target}"`);
    return pool;
  }

  /** entries lists every target with its pool, the primary first. */
  entries(): IterableIterator<[string, P]> {
    return this.#pools.entries();
  }
}

function assertPool(field: string, pool: unknown): void {
  if (typeof (pool as { query?: unknown } | null | undefined)?.query !== 'function')
    throw new ReplicaError(
      'REPLICA_INVALID_ARGUMENT',
      `${field} must be a pool with query(), got ${describe(pool)}`,
    );
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : typeof value;
}

/** withTimeout rejects after `ms`; the underlying call keeps running but nobody waits for it. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** TimeoutError marks a probe or check that did not answer in time; drivers treat it as unreachable. */
export class TimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}
