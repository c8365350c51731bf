import pg, { type Pool, type PoolClient, type QueryConfig, type QueryResult } from 'pg';
import type { SqlDialect } from '../classify.js';
import {
  describeAddress,
  otherClusterSample,
  PRIMARY,
  type ProbeRound,
  primaryReadOnlyError,
  type Queryable,
  type ReplicaDriver,
  type ReplicaSample,
  TargetPools,
  type TransactionTarget,
  unreachableSample,
  type WrittenAt,
  withTimeout,
  writableSample,
} from '../driver.js';
import { type DatabaseError, ReplicaError } from '../errors.js';
import { checkoutCurrent, PoolGenerations } from '../generations.js';
import { ageByPrimaryClock, type PrimaryClock } from '../primary-clock.js';
import { ProbeConnection, type ProbeLink } from '../probe-connection.js';
import type { Statement } from '../statement.js';
import { isRetryablePgRead, normalizePgError, refusedAsWritePg } from './errors.js';
import { appendLsnSample, estimatePgLag, type LsnSample, lsnCovers, parseLsn, replayedUpTo } from './lag.js';
import { followedTimeline, onOtherTimeline, walfileTimeline } from './timeline.js';

/** PgResult is what a query through a PostgreSQL router returns: node-postgres's own result. */
// biome-ignore lint/suspicious/noExplicitAny: rows are whatever the caller's SQL selects, as in pg itself.
export type PgResult = QueryResult<any>;

// The insert position is never behind the end of a commit that has returned, whatever synchronous_commit says.
// The WAL file name it falls in starts with the timeline the server writes on (see pgServer).
const PRIMARY_POSITION =
  'SELECT insert::text AS lsn, pg_walfile_name(insert) AS walfile FROM pg_current_wal_insert_lsn() AS insert';
// The cluster's system identifier, set by initdb and copied by pg_basebackup: a primary and its replicas share it.
const SYSTEM_IDENTIFIER = '(SELECT system_identifier FROM pg_control_system())::text';
// A standby (the configured primary after a failover) has no insert position: it is asked for its role
// first, and the position only when it has one (pg_current_wal_insert_lsn() fails during recovery).
// transaction_read_only is on in a new transaction when default_transaction_read_only is (ALTER SYSTEM
// and a reload, as a failover fences a primary it cannot stop): libpq's target_session_attrs=read-write
// asks the same. The probe's session sees a reload; a per-database or per-role setting only a new one.
const PRIMARY_READING = `SELECT pg_is_in_recovery() AS recovery,
  current_setting('transaction_read_only') = 'on' AS fenced,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn()::text END AS lsn,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_insert_lsn()) END AS walfile,
  (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::float8 AS clock`;
const PRIMARY_PROBE = `${PRIMARY_READING}, ${SYSTEM_IDENTIFIER} AS system`;
// Which timeline the replica follows (see timeline.ts): its WAL receiver's, whose pid every role
// sees and received_tli only one with pg_read_all_stats; its last restartpoint's, read with the
// system identifier (pg_control_* alike).
const REPLICA_READING = `SELECT pg_is_in_recovery() AS recovery,
  pg_last_wal_replay_lsn()::text AS replay,
  (EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS ts_lag,
  (EXTRACT(EPOCH FROM pg_last_xact_replay_timestamp()) * 1000)::float8 AS replayed_at,
  current_setting('wal_block_size')::int AS block,
  EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS receiver,
  (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) AS received_tli`;
const REPLICA_PROBE = `${REPLICA_READING}, ${SYSTEM_IDENTIFIER} AS system,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli`;
// too_many_connections: the server is up, every slot taken by other clients, whose writes still commit.
const TOO_MANY_CONNECTIONS = '53300';
// pg_control_system() refused (EXECUTE revoked from PUBLIC) or missing: the probe goes on without it.
const IDENTITY_REFUSED = new Set(['42501', '42883']);
const REPLAY_POSITION = 'SELECT pg_last_wal_replay_lsn()::text AS replay';

/** PgDriverOptions are the pools; the router options live elsewhere. */
export interface PgDriverOptions {
  primary: Pool;
  replicas: Record<string, Pool>;
  /** ms of primary positions kept to bound lag. @defaultValue 60000 */
  historyWindow?: number;
}

/** PgDriver speaks node-postgres for the router. */
export class PgDriver implements ReplicaDriver<PgResult> {
  readonly dialect: SqlDialect = 'postgres';
  readonly replicaNames: readonly string[];
  readonly #pools: TargetPools<Pool>;
  readonly #listeners = new Map<Pool, (error: Error) => void>();
  /** Each target's probe connection; a pool that is not node-postgres's (no options) is probed through itself. */
  readonly #probes = new Map<string, ProbeConnection<pg.Client>>();
  readonly #historyWindow: number;
  /**
   * The primary's positions (see estimatePgLag). Kept across a change of primary (a promotion, another
   * timeline), unlike MySQL's, which bound lag from below: each sample only bounds a replica's lag from
   * above (whoever has replayed past it lacks only WAL written after it). Past an old-timeline sample
   * a replica has everything that survived from then, so the bound holds, only looser than the new
   * timeline's samples, which are newer and taken first; dropping the old ones would leave a replica
   * behind since before the failover with no bound at all (lag unknown) until it passes a new one.
   */
  #history: LsnSample[] = [];
  /** The primary's system identifier, from the last round that reached it. */
  #primarySystem: string | null = null;
  /** The primary's clock at the last round that reached it: commit timestamps are ages by it. */
  #primaryClock: PrimaryClock | null = null;
  /** Whether a round has read the primary's position: later rounds have one to bound lag by. */
  #sampled = false;
  /** Targets whose system identifier cannot be read: probed without it. */
  readonly #noIdentity = new Set<string>();
  /** Which pooled clients were opened before their target's last drain (see PoolGenerations). */
  readonly #generations = new PoolGenerations<object>();
  #report: (error: ReplicaError) => void = () => {};

  constructor(options: PgDriverOptions) {
    this.#pools = new TargetPools(options.primary, options.replicas);
    this.replicaNames = this.#pools.replicaNames;
    this.#historyWindow = options.historyWindow ?? 60_000;
    for (const [name, pool] of this.#pools.entries()) {
      const link = probeLink(pool);
      if (link !== null) this.#probes.set(name, new ProbeConnection(link));
      // pg-pool emits 'connect' with each client it has just opened.
      if (typeof pool.on === 'function')
        pool.on('connect', (client: object) => this.#generations.opened(name, client));
    }
  }

  attach(report: (error: ReplicaError) => void): void {
    this.#report = report;
    for (const [name, pool] of this.#pools.entries()) {
      if (this.#listeners.has(pool)) continue;
      // An idle pooled client whose server goes away makes the pool emit 'error', fatal without a listener.
      const listener = (error: Error) => this.#report(normalizePgError(error, name));
      this.#listeners.set(pool, listener);
      pool.on('error', listener);
    }
  }

  async prepare(): Promise<void> {}

  async query(
    target: string,
    statement: Statement,
    params: readonly unknown[] | undefined,
  ): Promise<PgResult> {
    const pool = this.#pool(target);
    const values = params as unknown[] | undefined;
    // A cursor or stream (submit()) comes back as itself from pool.query, and a pool without connect()
    // (a wrapper) has no checkout of its own: both as before. So does a pool never drained, which has
    // no stale client: our own checkout cost a session's write, position and read a fifth more client
    // CPU than pool.query (3,000 sessions 16 at a time, alternated, under load: 1,380 against 1,150 ms).
    if (
      typeof (statement as { submit?: unknown }).submit === 'function' ||
      typeof pool.connect !== 'function' ||
      !this.#generations.drained(target)
    )
      return pool.query(statement as string | QueryConfig, values);
    const client = await this.#checkout(target);
    // pg-pool's query() listens so for the moment the client is out: an 'error' without a listener
    // would end the process; the query's own callback gets the failure.
    const ignore = () => {};
    client.on('error', ignore);
    let failure: Error | undefined;
    try {
      return await client.query(statement as string | QueryConfig, values);
    } catch (error) {
      failure = error as Error;
      throw error;
    } finally {
      client.off('error', ignore);
      // As pool.query() does: a client whose statement failed is not given to the next caller.
      client.release(failure);
    }
  }

  /** checkout takes a client of `target`'s pool opened since its last drain. */
  #checkout(target: string): Promise<PoolClient> {
    const pool = this.#pool(target);
    return checkoutCurrent(
      () => pool.connect(),
      (client) => this.#generations.stale(target, client),
      (client) => client.release(true),
    );
  }

  async transaction<T>(fn: (tx: Queryable<PgResult>) => Promise<T>, where: TransactionTarget): Promise<T> {
    const guard = where.guard ?? ((statement) => statement);
    const connecting = this.#checkout(where.target);
    let client: PoolClient;
    try {
      client = await guard(connecting);
    } catch (error) {
      // Given up on: a connection that arrives after all goes, never into the pool mid-handshake.
      connecting.then(
        (late) => late.release(new Error('abandoned')),
        () => undefined,
      );
      throw error;
    }
    const run = (statement: Statement, params?: readonly unknown[]) =>
      guard(client.query(statement as string | QueryConfig, params as unknown[] | undefined));
    let broken: Error | undefined;
    try {
      // REPEATABLE READ: every statement of a read-only transaction sees one snapshot, which is its point.
      await run(where.readOnly ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
      const result = await fn({ query: run });
      await run('COMMIT');
      return result;
    } catch (error) {
      try {
        await run('ROLLBACK');
      } catch (rollbackError) {
        // A connection that cannot roll back must not go back into the pool.
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      // A client whose session the transaction changed is closed (pg-pool destroys one released with
      // an error): the next caller would inherit its role, search_path, timeouts.
      client.release(broken ?? (where.discard?.() ? new Error('session changed') : undefined));
    }
  }

  async probe(now: number, timeout: number): Promise<ProbeRound> {
    let primaryLsn: bigint | null = null;
    let primaryTimeline: number | null = null;
    const primary: ProbeRound['primary'] = { reachable: false, position: null };
    const first = !this.#sampled;
    let sampledAt = performance.now();
    try {
      const asked = performance.now();
      const result = await this.#probeIdentified(PRIMARY, PRIMARY_PROBE, PRIMARY_READING, timeout);
      const row = result.rows[0] as {
        recovery: boolean;
        fenced: boolean;
        lsn: string | null;
        walfile: string | null;
        clock: number;
        system?: string | null;
      };
      this.#primarySystem = row.system ?? null;
      primary.server = pgServer(this.#primarySystem, row.walfile);
      primaryTimeline = walfileTimeline(row.walfile);
      this.#primaryClock = { clock: row.clock, at: asked };
      primary.reachable = true;
      if (row.recovery || row.lsn === null) {
        // Before, pg_current_wal_insert_lsn() failed there ("recovery is in progress"): the standby was
        // taken for an unreachable primary, and writes failed 25006 naming no host.
        primary.readOnly = true;
        primary.error = primaryReadOnlyError(
          `${this.#describe(PRIMARY)} is in recovery (pg_is_in_recovery() is true)`,
        );
      } else if (row.fenced) {
        // Before, such a primary counted as writable: every write was sent and failed 25006.
        primary.readOnly = true;
        primary.error = primaryReadOnlyError(
          `${this.#describe(PRIMARY)} has default_transaction_read_only on (transaction_read_only is on)`,
        );
      } else {
        primaryLsn = parseLsn(row.lsn);
        sampledAt = performance.now();
        primary.position = row.lsn;
        this.#history = appendLsnSample(this.#history, { at: now, lsn: primaryLsn }, this.#historyWindow);
      }
    } catch (error) {
      const failure = normalizePgError(error, PRIMARY);
      primary.error = failure;
      primary.up = failure.sqlState === TOO_MANY_CONNECTIONS;
    }
    const catchUp = first && primaryLsn !== null ? { lsn: primaryLsn, at: sampledAt } : null;
    const timeline = primaryLsn === null ? null : primaryTimeline;
    const replicas = await Promise.all(
      this.replicaNames.map((name) => this.#probeReplica(name, primaryLsn, timeline, now, timeout, catchUp)),
    );
    if (primaryLsn !== null) this.#sampled = true;
    return { primary, replicas };
  }

  async #probeReplica(
    name: string,
    primaryLsn: bigint | null,
    primaryTimeline: number | null,
    now: number,
    timeout: number,
    catchUp: { lsn: bigint; at: number } | null,
  ): Promise<ReplicaSample> {
    try {
      const result = await this.#probeIdentified(name, REPLICA_PROBE, REPLICA_READING, timeout);
      const readAt = performance.now();
      const row = result.rows[0] as {
        recovery: boolean;
        replay: string | null;
        ts_lag: number | null;
        replayed_at: number | null;
        block: number;
        receiver: boolean;
        received_tli: number | null;
        system?: string | null;
        checkpoint_tli?: number | null;
      };
      // LSNs of another cluster compare with the primary's as numbers, meaning nothing: a replica
      // following another primary looked caught up (lag 0) and served that cluster's data.
      const system = row.system ?? null;
      if (this.#primarySystem !== null && system !== null && system !== this.#primarySystem)
        return otherClusterSample(
          name,
          `system identifier ${system}; the primary's is ${this.#primarySystem}`,
        );
      // Not in recovery: the primary itself or a promoted replica. Its lag was unknown before
      // (LagUnknown, excluded) and nothing said why.
      if (!row.recovery)
        return writableSample(
          name,
          `${this.#describe(name)} is not in recovery (pg_is_in_recovery() is false)`,
        );
      // LSNs of another timeline compare with the primary's as numbers, meaning nothing past the fork:
      // a replica still following the old primary after a promotion, or left on its timeline, read
      // caught up (its replay past the new primary's insert position) and a session's write on the
      // new primary looked replayed there, so the read missed it (timeline.test.ts).
      const followed = followedTimeline({
        receiverRunning: row.receiver,
        received: row.received_tli,
        checkpoint: row.checkpoint_tli ?? null,
      });
      if (onOtherTimeline(primaryTimeline, followed))
        return otherTimelineSample(
          name,
          `${this.#describe(name)} follows timeline ${followed}; the primary writes timeline ${primaryTimeline}`,
        );
      const estimate = estimatePgLag(
        {
          inRecovery: row.recovery,
          replayLsn: row.replay === null ? null : parseLsn(row.replay),
          // The last replayed commit's age by the primary's clock, which stamped it: by the replica's,
          // a replica whose clock ran 30 s behind read lag 0 while 4 s behind (clock-skew.test.ts).
          // Its own clock only before any round has reached the primary.
          timestampLag:
            this.#primaryClock === null
              ? row.ts_lag
              : ageByPrimaryClock(this.#primaryClock, row.replayed_at, readAt),
          walBlockSize: row.block,
        },
        primaryLsn,
        this.#history,
        now,
      );
      if (catchUp !== null && estimate.source !== 'caught-up' && estimate.source !== 'not-a-replica') {
        const replayed = await this.#awaitReplay(name, catchUp, timeout);
        // The tighter of the two upper bounds, as estimatePgLag takes.
        if (replayed !== null && (estimate.lag === null || replayed.lag < estimate.lag))
          return {
            name,
            reachable: true,
            lag: replayed.lag,
            position: replayed.position,
            source: 'wal-history',
          };
      }
      return { name, reachable: true, lag: estimate.lag, position: row.replay, source: estimate.source };
    } catch (error) {
      return unreachableSample(name, normalizePgError(error, name));
    }
  }

  /**
   * awaitReplay is for the first round, which has no earlier primary position to bound lag by: a
   * replica a moment behind (WAL just written, or not yet flushed by the WAL writer) was judged by the
   * age of its last replayed commit, as old as the primary had been idle, and kept from reads for
   * holdTime from the start. It waits up to half the probe timeout for the replica to replay the
   * position read this round; its lag is then at most the time since that read.
   */
  async #awaitReplay(
    name: string,
    sample: { lsn: bigint; at: number },
    timeout: number,
  ): Promise<{ lag: number; position: string } | null> {
    const deadline = performance.now() + timeout / 2;
    while (performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      const result = await this.#probeQuery(name, REPLAY_POSITION, timeout);
      const replay = (result.rows[0]?.replay as string | null) ?? null;
      if (replay !== null && replayedUpTo(parseLsn(replay), sample.lsn))
        return { lag: performance.now() - sample.at, position: replay };
    }
    return null;
  }

  /**
   * probeIdentified runs `withIdentity`, or `without` on a server that refuses to tell its system
   * identifier: a permission revoked there must not make a healthy server look unreachable.
   */
  async #probeIdentified(target: string, withIdentity: string, without: string, timeout: number) {
    if (!this.#noIdentity.has(target)) {
      try {
        return await this.#probeQuery(target, withIdentity, timeout);
      } catch (error) {
        const failure = normalizePgError(error, target);
        if (!IDENTITY_REFUSED.has(failure.sqlState ?? '')) throw error;
        this.#noIdentity.add(target);
        this.#report(
          new ReplicaError(
            'REPLICA_PROBE',
            `${target}: cannot read its system identifier (${failure.message}); a replica of another cluster is not told apart there`,
            { cause: error },
          ),
        );
      }
    }
    return this.#probeQuery(target, without, timeout);
  }

  /** probeQuery runs a probe statement on the target's own probe connection, bounded by `timeout`. */
  #probeQuery(target: string, sql: string, timeout: number): Promise<PgResult> {
    const what = `${target} probe`;
    const probe = this.#probes.get(target);
    if (probe === undefined) return withTimeout(this.#pool(target).query(sql), timeout, what);
    return probe.run((client) => client.query(sql), timeout, what);
  }

  async writePosition(): Promise<WrittenAt> {
    // Through query(): on a client of the current generation, which leads where the write went.
    const result = await this.query(PRIMARY, PRIMARY_POSITION, undefined);
    const row = result.rows[0] as { lsn?: string | null; walfile?: string | null } | undefined;
    // The system identifier is the last round's: read per write it would cost a read of pg_control.
    // A promotion shows in the timeline; another cluster behind the address, in the next round.
    return { position: row?.lsn ?? null, server: pgServer(this.#primarySystem, row?.walfile ?? null) };
  }

  async checkReplayed(
    replica: string,
    position: string,
    timeout: number,
  ): Promise<{ replayed: boolean; position: string | null }> {
    // PostgreSQL 15 has no "wait for LSN"; poll briefly, since streaming replay is usually sub-millisecond.
    // On the monotonic clock, as the probes' waits: on Date.now, a step back of the system clock
    // during the wait kept the read polling the replica every 2 ms for as long as the step.
    const deadline = performance.now() + timeout;
    for (;;) {
      const result = await this.#pool(replica).query(REPLAY_POSITION);
      const replay = (result.rows[0]?.replay as string | null) ?? null;
      if (replay !== null && lsnCovers(replay, position)) return { replayed: true, position: replay };
      const left = deadline - performance.now();
      if (left <= 0) return { replayed: false, position: replay };
      await new Promise((resolve) => setTimeout(resolve, Math.min(2, left)));
    }
  }

  covers(replayed: string, write: string): boolean {
    return lsnCovers(replayed, write);
  }

  normalizeError(error: unknown, target: string): DatabaseError {
    return normalizePgError(error, target);
  }

  isRetryableRead(error: DatabaseError): boolean {
    return isRetryablePgRead(error);
  }

  refusedAsWrite(error: DatabaseError): boolean {
    return refusedAsWritePg(error);
  }

  renewProbe(target: string): void {
    this.#probes.get(target)?.close();
  }

  drain(target: string): void {
    this.#generations.drain(target);
  }

  async close(): Promise<void> {
    for (const [pool, listener] of this.#listeners) pool.off('error', listener);
    this.#listeners.clear();
    for (const probe of this.#probes.values()) probe.close();
  }

  #pool(target: string): Pool {
    return this.#pools.get(target);
  }

  /** describe is `target (host:port)`: errors about a server's role name the server. */
  #describe(target: string): string {
    return describeAddress(target, pgAddress(this.#pool(target)));
  }
}

/**
 * pgServer names the server writing WAL as its cluster (system identifier) and the timeline it
 * writes on: the first 8 hex digits of a WAL file name. A promotion starts a new timeline, so does a
 * point-in-time recovery; a restart (crash recovery) stays on it. Null without a WAL file name (a
 * server in recovery).
 */
export function pgServer(system: string | null, walfile: string | null): string | null {
  const timeline = walfileTimeline(walfile);
  if (timeline === null) return null;
  return `timeline ${timeline} of system ${system ?? 'unknown'}`;
}

/**
 * otherTimelineSample is what a probe reports for a replica on another timeline than the primary's
 * (`what` names both): reachable, but neither its lag nor its position compares, so no reads.
 */
function otherTimelineSample(name: string, what: string): ReplicaSample {
  return {
    name,
    reachable: true,
    lag: null,
    position: null,
    source: 'other-timeline',
    error: new ReplicaError(
      'REPLICA_PROBE',
      `${what}: its LSNs do not compare with the primary's (it does not follow the primary); no reads until it replays the primary's timeline`,
    ),
  };
}

/** pgAddress is the host:port a node-postgres pool connects to, or null for another kind of pool. */
function pgAddress(pool: Pool): string | null {
  const options = (pool as unknown as { options?: pg.PoolConfig }).options;
  if (typeof options !== 'object' || options === null) return null;
  if (typeof options.connectionString === 'string') {
    try {
      const url = new URL(options.connectionString);
      return `${url.hostname || 'localhost'}:${url.port || 5432}`;
    } catch {
      return null;
    }
  }
  return `${options.host ?? process.env.PGHOST ?? 'localhost'}:${options.port ?? process.env.PGPORT ?? 5432}`;
}

/**
 * probeLink opens clients like the pool's own (same options, same Client class), or null for a pool
 * that is not node-postgres's.
 */
function probeLink(pool: Pool): ProbeLink<pg.Client> | null {
  const { options, Client } = pool as unknown as { options?: pg.PoolConfig; Client?: typeof pg.Client };
  if (typeof options !== 'object' || options === null) return null;
  const ClientClass = Client ?? pg.Client;
  return {
    create: () => {
      // The probe bounds its connect by its own timeout; the pool's connectionTimeoutMillis is how long
      // a read may wait for a pooled connection, often short, and failed healthy replicas' probes
      // under load (50 ms: "Unreachable" while reads were served there).
      const client = new ClientClass({ ...options, connectionTimeoutMillis: 0 });
      // A probe client whose server goes away errors when idle; the next probe finds out and says so.
      client.on('error', () => {});
      return client;
    },
    connect: async (client) => {
      await client.connect();
    },
    destroy: (client) => {
      client.end().catch(() => {});
      // end() waits for a frozen server to answer; the socket must go now.
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    },
  };
}
