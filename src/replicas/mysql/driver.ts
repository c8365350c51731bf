import mysql from 'mysql2';
import type {
  FieldPacket,
  Pool,
  PoolConnection,
  QueryOptions,
  QueryResult,
  RowDataPacket,
} from 'mysql2/promise';
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
import { otherPrimary, type PrimarySighting } from '../primary-identity.js';
import { ProbeConnection, type ProbeLink } from '../probe-connection.js';
import type { Statement } from '../statement.js';
import {
  isReadOnlyMysqlError,
  isRetryableMysqlRead,
  normalizeMysqlCheckoutError,
  normalizeMysqlError,
  refusedAsWriteMysql,
} from './errors.js';
import { gtidCovers, gtidHasWrite, type MysqlFlavor } from './gtid.js';
import {
  appendPosition,
  lagBelowFromPositions,
  lagFromHeartbeat,
  lagFromReplicaStatus,
  type PositionSample,
  type ReplicaStatusRow,
} from './lag.js';

/** MysqlResult is what a query through a MySQL/MariaDB router returns: mysql2's own `[rows, fields]`. */
export type MysqlResult = [QueryResult, FieldPacket[]];

/** MysqlDriverOptions are the pools and the heartbeat settings. */
export interface MysqlDriverOptions {
  primary: Pool;
  replicas: Record<string, Pool>;
  /**
   * Heartbeat table (optionally `db.table`), created on the primary if missing; `false` measures lag
   * with SHOW REPLICA STATUS only. @defaultValue 'scaleplane_heartbeat'
   */
  heartbeatTable?: string | false;
}

/** RowQuery runs one statement that returns rows, on a pool or on a probe connection. */
type RowQuery = (sql: string, params?: unknown[]) => Promise<[RowDataPacket[], FieldPacket[]]>;

const ER_PARSE_ERROR = 1064;
/** ms of primary positions kept to bound a replica's lag from below (older ones but one go). */
const POSITION_HISTORY = 60_000;
/** The server's own refusal of a write under read_only; the router's refusal reuses it. */
const ER_OPTION_PREVENTS_STATEMENT = 1290;
const ER_NO_SUCH_TABLE = 1146;
/** Too many connections (1040), per user (1203): the server is up and commits other clients' writes. */
const SERVER_FULL = new Set([1040, 1203]);
/** The heartbeat table's row holding the cluster token: server_id 0 never replicates, so no heartbeat has it. */
const CLUSTER_TOKEN_ID = 0;

/** MysqlDriver speaks mysql2 (promise pools) for the router, against MariaDB or MySQL. */
export class MysqlDriver implements ReplicaDriver<MysqlResult> {
  readonly dialect: SqlDialect = 'mysql';
  readonly replicaNames: readonly string[];
  readonly #pools: TargetPools<Pool>;
  readonly #table: string | null;
  #flavor: MysqlFlavor = 'mariadb';
  /**
   * The primary's server_id, the key of its heartbeat row (pt-heartbeat's): read by prepare(), and
   * again when another server is the primary (see #primaryReplaced).
   */
  #serverId: number | null = null;
  #prepared = false;
  #heartbeatReady = false;
  /** prepare() found the primary read_only and created no heartbeat table: the first writable round does. */
  #tableDeferred = false;
  /** The primary refused the last heartbeat write: lag comes from SHOW REPLICA STATUS until it takes one. */
  #heartbeatRefused = false;
  /**
   * Whether this round measures replicas by the heartbeat: not when the primary refused it, nor in the
   * round it takes one again (replicas may still show the heartbeat from before the refusal, as old).
   */
  #heartbeatMeasures = true;
  /** The primary's cluster token (see CLUSTER_TOKEN_ID), or null when it could not be set or read. */
  #clusterToken: string | null = null;
  /** Router time of the first round that knew the token: it was on the primary by then. */
  #tokenSince: number | null = null;
  /** The token is still to be read: at start, and after a refused read or a recreated table. */
  #tokenPending = true;
  /** The last token failure reported (code/errno), so that a refusal each round is reported once. */
  #tokenFailure: string | null = null;
  /** The last failure to recreate a dropped heartbeat table reported, likewise. */
  #createFailure: string | null = null;
  /** Whether a round has measured a replica by the heartbeat: later ones find last round's there. */
  #heartbeatSeen = false;
  /**
   * Router time of the first round whose heartbeat the primary took under #serverId: a replica
   * without that row lacks a commit the primary had then (see #measure).
   */
  #heartbeatSince: number | null = null;
  #statusStatement = 'SHOW REPLICA STATUS';
  /** The primary's positions, each at the first round that read it (see lagBelowFromPositions). */
  #positions: PositionSample[] = [];
  /** Which server the last round that read the primary's role found, at which position. */
  #sighting: PrimarySighting | null = null;
  /** The primary's clock at the last round that reached it: heartbeats are ages by it. */
  #primaryClock: PrimaryClock | null = null;
  /** Each target's probe connection; a pool that is not mysql2's own is probed through itself. */
  readonly #probes = new Map<string, ProbeConnection<mysql.Connection>>();
  /** Which pooled connections were opened before their target's last drain (see PoolGenerations). */
  readonly #generations = new PoolGenerations<object>();
  /**
   * The primary pool's user is not bound by read_only (SUPER, READ_ONLY ADMIN, ALL PRIVILEGES): on a
   * demoted primary its writes commit instead of failing 1290, so each write checks read_only on its
   * own connection first (see query).
   */
  #bypassesReadOnly = false;
  #report: (error: ReplicaError) => void = () => {};

  constructor(options: MysqlDriverOptions) {
    this.#pools = new TargetPools(options.primary, options.replicas);
    this.replicaNames = this.#pools.replicaNames;
    const table = options.heartbeatTable ?? 'scaleplane_heartbeat';
    if (table !== false && !/^[A-Za-z0-9_$]+(\.[A-Za-z0-9_$]+)?$/.test(table))
      throw new ReplicaError(
        'REPLICA_INVALID_ARGUMENT',
        `heartbeatTable "${table}" is not a plain [db.]table name`,
      );
    this.#table =
      table === false
        ? null
        : table
            .split('.')
            .map((part) => `\`${part}\``)
            .join('.');
    for (const [name, pool] of this.#pools.entries()) {
      const link = probeLink(pool);
      if (link !== null) this.#probes.set(name, new ProbeConnection(link));
      // mysql2's promise pool passes on its core pool's 'connection' event: each new connection.
      if (typeof pool.on === 'function')
        pool.on('connection', (connection: object) => this.#generations.opened(name, connection));
    }
  }

  /** flavor is the server family found by prepare(). */
  get flavor(): MysqlFlavor {
    return this.#flavor;
  }

  attach(report: (error: ReplicaError) => void): void {
    this.#report = report;
  }

  async prepare(): Promise<void> {
    const [rows] = await this.#pool(PRIMARY).query<RowDataPacket[]>(
      'SELECT VERSION() AS version, @@server_id AS id, @@GLOBAL.read_only AS read_only',
    );
    const row = rows[0]!;
    this.#flavor = /mariadb/i.test(String(row.version)) ? 'mariadb' : 'mysql';
    this.#serverId = Number(row.id);
    this.#prepared = true;
    await this.#checkReadOnlyBypass((sql) => this.#pool(PRIMARY).query<RowDataPacket[]>(sql));
    if (this.#table === null) return;
    // On a read_only primary (a standby after a failover) the table, the token and the heartbeats,
    // written by a user read_only does not bind (SUPER, READ_ONLY ADMIN), were errant transactions
    // there: GTIDs of the standby's own server_id that the real primary never has.
    if (Number(row.read_only) !== 0) {
      this.#tableDeferred = true;
      return;
    }
    await this.#setUpHeartbeat();
  }

  /**
   * checkReadOnlyBypass finds out whether read_only binds the primary pool's user, and says so once
   * when it does not: then only the router's own check stands between a write and a demoted primary.
   * Grants it cannot read leave the writes unchecked, as before. Grants are the server's own: read
   * again when another server is the primary (see #primaryReplaced).
   */
  async #checkReadOnlyBypass(query: RowQuery): Promise<void> {
    let grants: string[];
    try {
      const [rows] = await query('SHOW GRANTS');
      grants = rows.map((row) => String(Object.values(row)[0] ?? ''));
    } catch {
      this.#bypassesReadOnly = false;
      return;
    }
    this.#bypassesReadOnly = grants.some(bypassesReadOnly);
    if (!this.#bypassesReadOnly) return;
    this.#report(
      new ReplicaError(
        'REPLICA_PROBE',
        `${this.#describe(PRIMARY)}: the pool's user has SUPER, READ_ONLY ADMIN or ALL PRIVILEGES, which read_only does not bind: a demoted primary would commit its writes (split brain). Each write checks read_only on its connection first (one more round trip); give the primary pool a user without them`,
      ),
    );
  }

  async #setUpHeartbeat(): Promise<void> {
    await this.#pool(PRIMARY).query(this.#createTable());
    this.#heartbeatReady = true;
    this.#tableDeferred = false;
    await this.#readClusterToken((read) => read);
  }

  #createTable(): string {
    return `CREATE TABLE IF NOT EXISTS ${this.#table} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, ts DECIMAL(20,6) NOT NULL) ENGINE=InnoDB`;
  }

  /**
   * readClusterToken reads the token while it is pending (`bound` limits the read). A refused read
   * leaves it pending for a later round: before, one refusal at start (a privilege missing for a
   * moment) left the process without the other-cluster check for good.
   */
  async #readClusterToken(bound: (read: Promise<string | null>) => Promise<string | null>): Promise<void> {
    if (!this.#tokenPending) return;
    if (this.#serverId === CLUSTER_TOKEN_ID) {
      this.#tokenPending = false;
      return;
    }
    try {
      this.#clusterToken = await bound(this.#primaryClusterToken());
      this.#tokenPending = this.#clusterToken === null;
      this.#tokenFailure = null;
    } catch (error) {
      // Without a token (no INSERT privilege, say) replicas are measured as before, unchecked.
      this.#tokenFailure = this.#reportChanged(error, this.#tokenFailure);
    }
  }

  /**
   * primaryClusterToken reads the primary's cluster token, written once by the first router that
   * needs it (INSERT IGNORE: every router of the cluster then reads the same one). Heartbeat rows are
   * keyed by server_id, which is 1 on most primaries: a replica of another cluster whose own routers
   * write heartbeats had a fresh row under that key, and looked as fresh as its own primary.
   */
  async #primaryClusterToken(): Promise<string | null> {
    const pool = this.#pool(PRIMARY);
    await pool.query(
      `INSERT IGNORE INTO ${this.#table} (server_id, ts) VALUES (?, FLOOR(1 + RAND() * 99999999999999))`,
      [CLUSTER_TOKEN_ID],
    );
    const [rows] = await pool.query<RowDataPacket[]>(
      `SELECT CAST(FLOOR(ts) AS CHAR) AS token FROM ${this.#table} WHERE server_id = ?`,
      [CLUSTER_TOKEN_ID],
    );
    return emptyToNull(rows[0]?.token);
  }

  /**
   * recreateTable creates the heartbeat table again after the write found it gone (dropped on the
   * primary while the router runs), as at start, with a new token to read: the drop and the new table
   * replicate. Only on that failure, one CREATE per round at most. Before, the write failed each
   * round for good and lag stayed on SHOW REPLICA STATUS.
   */
  async #recreateTable(timeout: number): Promise<void> {
    try {
      await this.#onProbe(PRIMARY, (query) => query(this.#createTable()), timeout, 'heartbeat table');
      this.#createFailure = null;
      this.#clusterToken = null;
      this.#tokenSince = null;
      this.#heartbeatSince = null;
      this.#tokenPending = true;
    } catch (error) {
      this.#createFailure = this.#reportChanged(error, this.#createFailure);
    }
  }

  /**
   * reportChanged reports a failure on the primary unless it is of the kind `last` reported (one
   * report per failure streak, not per round), and returns its kind.
   */
  #reportChanged(error: unknown, last: string | null): string {
    const failure = normalizeMysqlError(error, PRIMARY);
    const kind = `${failure.code}/${failure.errno ?? ''}`;
    if (kind !== last) this.#report(failure);
    return kind;
  }

  async query(
    target: string,
    statement: Statement,
    params: readonly unknown[] | undefined,
    write = false,
  ): Promise<MysqlResult> {
    const pool = this.#pool(target);
    // mysql2 takes SQL text or its options object; its overloads just don't accept the union.
    const sql = statement as QueryOptions;
    // A pool that only has query() (a wrapper) cannot tell its checkout from its statement.
    if (typeof pool.getConnection !== 'function') return pool.query(sql, params as unknown[] | undefined);
    // The checkout apart from the statement, as pool.query() does it, so that a pool refusing one is
    // known for what it is: the statement was never sent.
    let connection: PoolConnection;
    try {
      connection = await this.#checkout(target);
    } catch (error) {
      throw normalizeMysqlCheckoutError(error, target);
    }
    let readOnly = false;
    try {
      if (write && target === PRIMARY && this.#bypassesReadOnly) await this.#assertWritable(connection);
      return await connection.query(sql, params as unknown[] | undefined);
    } catch (error) {
      readOnly = isReadOnlyMysqlError(error);
      throw error;
    } finally {
      // As pool.query() does: a connection refused as read-only (a primary demoted meanwhile) is dropped.
      if (readOnly) connection.destroy();
      else connection.release();
    }
  }

  /** checkout takes a connection of `target`'s pool opened since its last drain. */
  #checkout(target: string): Promise<PoolConnection> {
    const pool = this.#pool(target);
    return checkoutCurrent(
      () => pool.getConnection(),
      (connection) => this.#generations.stale(target, coreConnection(connection)),
      (connection) => connection.destroy(),
    );
  }

  /**
   * assertWritable refuses a write, unsent, on a primary with read_only ON, for a user read_only does
   * not bind: the server would commit it. Asked on the write's own connection, so the answer is the
   * server's the write would reach, a round trip before it: a read_only set in between still lets it
   * commit, where a probe round could be `probeInterval` late.
   */
  async #assertWritable(connection: PoolConnection): Promise<void> {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT @@GLOBAL.read_only AS read_only');
    if (Number(rows[0]?.read_only) === 0) return;
    throw Object.assign(
      new Error(
        `${this.#describe(PRIMARY)} has read_only ON; the pool's user is not bound by it, so the router refused the write before sending it`,
      ),
      { errno: ER_OPTION_PREVENTS_STATEMENT, code: 'ER_OPTION_PREVENTS_STATEMENT', sqlState: 'HY000' },
    );
  }

  async transaction<T>(fn: (tx: Queryable<MysqlResult>) => Promise<T>, where: TransactionTarget): Promise<T> {
    const guard = where.guard ?? ((statement) => statement);
    const checkout = this.#checkout(where.target);
    let connection: PoolConnection;
    try {
      connection = await guard(checkout);
    } catch (error) {
      // Given up on: a connection that arrives after all goes, never into the pool.
      checkout.then(
        (late) => late.destroy(),
        () => undefined,
      );
      throw normalizeMysqlCheckoutError(error, where.target);
    }
    const run = (statement: Statement, params?: readonly unknown[]) =>
      guard(connection.query(statement as QueryOptions, params as unknown[] | undefined));
    let broken = false;
    try {
      // A consistent snapshot from the start: every statement sees the same data, which is the point.
      await run(
        where.readOnly ? 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY' : 'START TRANSACTION',
      );
      const result = await fn({ query: run });
      // On a demoted primary such a user's COMMIT succeeds: checked first, rolled back if so.
      if (where.target === PRIMARY && !where.readOnly && this.#bypassesReadOnly)
        await guard(this.#assertWritable(connection));
      await run('COMMIT');
      return result;
    } catch (error) {
      try {
        await run('ROLLBACK');
      } catch {
        // A connection that cannot roll back must not go back into the pool.
        broken = true;
      }
      throw error;
    } finally {
      // A connection whose session the transaction changed (SET SESSION, USE, LOCK TABLES) is closed:
      // the next caller would inherit its sql_mode, isolation level, default database, locks.
      if (broken || where.discard?.()) connection.destroy();
      else connection.release();
    }
  }

  async probe(now: number, timeout: number): Promise<ProbeRound> {
    const primary: ProbeRound['primary'] = { reachable: false, position: null };
    /** This round's heartbeat, in the first round only: a replica is given a moment to apply it. */
    let written: string | null = null;
    try {
      if (!this.#prepared) await withTimeout(this.prepare(), timeout, 'prepare');
      const asked = performance.now();
      const role = await this.#onProbe(PRIMARY, (query) => this.#readRole(query), timeout, 'primary probe');
      this.#primaryClock = { clock: role.clock, at: asked };
      primary.position = role.position;
      primary.server = role.server;
      const sighting: PrimarySighting = { server: role.server, position: role.position };
      if (otherPrimary(this.#sighting, sighting, (have, want) => this.covers(have, want)))
        await this.#primaryReplaced(role, timeout);
      this.#sighting = sighting;
      if (role.position !== null)
        this.#positions = appendPosition(
          this.#positions,
          { at: now, position: role.position },
          POSITION_HISTORY,
        );
      if (role.readOnly) {
        // No heartbeat on it (see prepare): replicas are measured by SHOW REPLICA STATUS this round,
        // and the round after it takes writes again, as after a refused heartbeat.
        primary.readOnly = true;
        primary.error = primaryReadOnlyError(`${this.#describe(PRIMARY)} has read_only ON`);
        this.#heartbeatRefused = true;
        this.#heartbeatMeasures = false;
      } else if (this.#tableDeferred) {
        try {
          await withTimeout(this.#setUpHeartbeat(), timeout, 'heartbeat table');
        } catch (error) {
          this.#createFailure = this.#reportChanged(error, this.#createFailure);
        }
      }
      if (this.#heartbeatReady && !role.readOnly) {
        try {
          written = await this.#onProbe(
            PRIMARY,
            async (query) => {
              await query(`REPLACE INTO ${this.#table} (server_id, ts) VALUES (?, UNIX_TIMESTAMP(NOW(6)))`, [
                this.#serverId,
              ]);
              if (this.#heartbeatSeen) return null;
              const [rows] = await query(
                `SELECT CAST(ts AS CHAR) AS ts FROM ${this.#table} WHERE server_id = ?`,
                [this.#serverId],
              );
              return emptyToNull(rows[0]?.ts);
            },
            timeout,
            'heartbeat',
          );
          this.#heartbeatMeasures = !this.#heartbeatRefused;
          this.#heartbeatRefused = false;
          this.#heartbeatSince ??= now;
          // The primary took a write to the table: a token read refused so far is tried again.
          await this.#readClusterToken((read) => withTimeout(read, timeout, 'cluster token'));
        } catch (error) {
          const failure = normalizeMysqlError(error, PRIMARY);
          if (failure.code === 'REPLICA_CONNECTION') throw error;
          if ((error as { errno?: unknown }).errno === ER_NO_SUCH_TABLE) await this.#recreateTable(timeout);
          // A primary that refuses the heartbeat (privileges, read-only) leaves this round's lag to SHOW
          // REPLICA STATUS; the next round writes it again. Before, one refusal (a switchover's read-only
          // moment, a privilege revoked and granted back) left the process on SHOW REPLICA STATUS for good.
          if (!this.#heartbeatRefused) this.#report(failure);
          this.#heartbeatRefused = true;
          this.#heartbeatMeasures = false;
        }
      }
      primary.reachable = true;
    } catch (error) {
      const failure = normalizeMysqlError(error, PRIMARY);
      primary.error = failure;
      primary.up = failure.errno !== undefined && SERVER_FULL.has(failure.errno);
    }
    if (this.#clusterToken !== null) this.#tokenSince ??= now;
    const replicas = await Promise.all(
      this.replicaNames.map((name) => this.#probeReplica(name, now, timeout, written)),
    );
    if (replicas.some((r) => r.source === 'heartbeat')) this.#heartbeatSeen = true;
    return { primary, replicas };
  }

  async #probeReplica(
    name: string,
    now: number,
    timeout: number,
    written: string | null,
  ): Promise<ReplicaSample> {
    try {
      return await this.#onProbe(
        name,
        (query) => this.#measure(name, query, now, written, timeout),
        timeout,
        `${name} probe`,
      );
    } catch (error) {
      return unreachableSample(name, normalizeMysqlError(error, name));
    }
  }

  /** onProbe runs `fn` on the target's probe connection (or its pool), bounded by `timeout`. */
  #onProbe<T>(
    target: string,
    fn: (query: RowQuery) => Promise<T>,
    timeout: number,
    what: string,
  ): Promise<T> {
    const probe = this.#probes.get(target);
    if (probe === undefined) {
      const pool = this.#pool(target);
      return withTimeout(
        fn((sql, params) => pool.query<RowDataPacket[]>(sql, params)),
        timeout,
        what,
      );
    }
    return probe.run(
      (connection) => fn((sql, params) => connection.promise().query<RowDataPacket[]>(sql, params)),
      timeout,
      what,
    );
  }

  async #measure(
    name: string,
    query: RowQuery,
    now: number,
    written: string | null,
    timeout: number,
  ): Promise<ReplicaSample> {
    const positionVariable =
      this.#flavor === 'mariadb' ? '@@GLOBAL.gtid_slave_pos' : '@@GLOBAL.gtid_executed';
    // read_only OFF: the primary itself or a promoted replica, or a replica nobody made read-only, where
    // a function with side effects classified a read writes instead of being refused (1290). Before,
    // it was measured like any replica (the primary given as one: heartbeat lag 0, eligible).
    const [roleRows] = await query('SELECT @@GLOBAL.read_only AS read_only');
    if (Number(roleRows[0]?.read_only) === 0)
      return writableSample(name, `${this.#describe(name)} has read_only OFF`);
    // Whether the replica lacks the primary's cluster token (no heartbeat table, or no token row).
    let tokenMissing = false;
    // Whether it lacks the primary's heartbeat row (no heartbeat table, or no row under its server_id).
    let heartbeatMissing = false;
    if (this.#heartbeatReady && this.#heartbeatMeasures) {
      try {
        // ×1000e0 makes the DECIMAL a DOUBLE, which mysql2 returns as a number.
        const [rows] = await query(
          `SELECT (UNIX_TIMESTAMP(NOW(6)) - hb.ts) * 1000e0 AS age, hb.ts * 1000e0 AS stamped,
                  ${positionVariable} AS position,
                  CAST(FLOOR(token.ts) AS CHAR) AS token
             FROM (SELECT 1 AS one) AS one
             LEFT JOIN ${this.#table} AS hb ON hb.server_id = ?
             LEFT JOIN ${this.#table} AS token ON token.server_id = ?`,
          [this.#serverId, CLUSTER_TOKEN_ID],
        );
        const readAt = performance.now();
        const row = rows[0];
        const token = emptyToNull(row?.token);
        tokenMissing = token === null;
        if (this.#clusterToken !== null && token !== null && token !== this.#clusterToken)
          return otherClusterSample(
            name,
            `its heartbeat table's cluster token ${token}; the primary's is ${this.#clusterToken}`,
          );
        heartbeatMissing = row?.age == null;
        if (row !== undefined && row.age !== null) {
          const arrived = written === null ? null : await this.#awaitHeartbeat(query, written, timeout);
          return {
            name,
            reachable: true,
            lag: lagFromHeartbeat(
              arrived ?? this.#heartbeatAge(Number(row.age), Number(row.stamped), readAt),
            ),
            position: emptyToNull(row.position),
            source: 'heartbeat',
          };
        }
      } catch (error) {
        // No table on the replica yet (not replicated so far): measure the other way this round.
        if ((error as { errno?: unknown }).errno !== ER_NO_SUCH_TABLE) throw error;
        tokenMissing = true;
        heartbeatMissing = true;
      }
    }
    const status = await this.#replicaStatus(query);
    const [positionRows] = await query(`SELECT ${positionVariable} AS position`);
    const position = emptyToNull(positionRows[0]?.position);
    let lag = lagFromReplicaStatus(status);
    let source = 'replica-status';
    // Seconds_Behind_Master counts only what the replica received: bounded below by the oldest primary
    // position it lacks. Before, a replica whose IO thread heard nothing read 0 (failover.test.ts).
    const below = lagBelowFromPositions(
      this.#positions,
      position,
      (have, want) => this.covers(have, want),
      now,
    );
    if (lag !== null && below !== null && below > lag) {
      lag = below;
      source = 'gtid-history';
    }
    // A replica still without the token has not replayed a commit the primary had at tokenSince: it
    // is at least that far behind, or it replicates another cluster, whose Seconds_Behind_Master
    // (0, of its own primary) said it was fresh.
    if (lag !== null && tokenMissing && this.#clusterToken !== null && this.#tokenSince !== null)
      lag = Math.max(lag, now - this.#tokenSince);
    // Likewise without the primary's heartbeat row, which the router has written since heartbeatSince.
    // Before, a replica still following an old primary nobody fenced after a failover (the table and
    // token replicated before it) read Seconds_Behind_Master 0 of its own primary, and the history bound
    // 0 too (its GTID sequence numbers ahead of the new primary's): eligible for good, its reads missing
    // every write since the promotion (fork.test.ts).
    if (
      lag !== null &&
      heartbeatMissing &&
      this.#heartbeatSince !== null &&
      now - this.#heartbeatSince > lag
    ) {
      lag = now - this.#heartbeatSince;
      source = 'heartbeat-missing';
    }
    return { name, reachable: true, lag, position, source };
  }

  /**
   * awaitHeartbeat is for the first round: the replica's heartbeat row is whichever router last wrote
   * it, as old as the table has been idle, until this round's arrives; a replica a moment behind (the
   * heartbeat in flight, a DDL ahead of it) was kept from reads for holdTime from the start. It waits
   * up to half the probe timeout for this round's heartbeat and gives its age, else null.
   */
  async #awaitHeartbeat(query: RowQuery, written: string, timeout: number): Promise<number | null> {
    const deadline = performance.now() + timeout / 2;
    for (;;) {
      const [rows] = await query(
        `SELECT (UNIX_TIMESTAMP(NOW(6)) - ts) * 1000e0 AS age, ts * 1000e0 AS stamped, ts >= ? AS arrived FROM ${this.#table} WHERE server_id = ?`,
        [written, this.#serverId],
      );
      const readAt = performance.now();
      if (Number(rows[0]?.arrived) === 1)
        return this.#heartbeatAge(Number(rows[0]?.age), Number(rows[0]?.stamped), readAt);
      if (performance.now() >= deadline) return null;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async #replicaStatus(query: RowQuery): Promise<ReplicaStatusRow | undefined> {
    try {
      const [rows] = await query(this.#statusStatement);
      return rows[0] as ReplicaStatusRow | undefined;
    } catch (error) {
      // Servers older than MySQL 8.0.22 / MariaDB 10.5.1 only know the SLAVE spelling.
      if (
        (error as { errno?: unknown }).errno !== ER_PARSE_ERROR ||
        this.#statusStatement === 'SHOW SLAVE STATUS'
      )
        throw error;
      this.#statusStatement = 'SHOW SLAVE STATUS';
      return this.#replicaStatus(query);
    }
  }

  async writePosition(): Promise<WrittenAt> {
    const pool = this.#pool(PRIMARY);
    if (typeof pool.getConnection !== 'function')
      return this.#readPosition((sql) => pool.query<RowDataPacket[]>(sql));
    // On a connection of the current generation: an old one may lead to the old primary, whose
    // position would let a replica that lacks the write count as having it.
    const connection = await this.#checkout(PRIMARY);
    try {
      return await this.#readPosition((sql) => connection.query<RowDataPacket[]>(sql));
    } finally {
      connection.release();
    }
  }

  /**
   * primaryReplaced forgets what described the primary before: another server answers now (a failover,
   * the address moved), or the same one with its history rewound. Before, all of it stayed the old
   * server's for good:
   * - positions it had that the new one lacks (commits lost in the failover) stay uncovered on every
   *   replica of the new primary, which then read as behind by their age, up to POSITION_HISTORY, and
   *   lost their reads (primary-change-driver.test.ts). Those the new primary has still bound a replica
   *   that lacks them: they were committed then.
   * - the heartbeat row key was the old primary's server_id (see #serverId).
   * - whether the pool's user bypasses read_only was the old server's grants: on a new primary where
   *   it does, a write after a demotion between two rounds committed unchecked.
   */
  async #primaryReplaced(
    role: { position: string | null; serverId: number | null },
    timeout: number,
  ): Promise<void> {
    const at = role.position;
    this.#positions = at === null ? [] : this.#positions.filter((sample) => this.#has(at, sample.position));
    // This round's heartbeat, under the new key, is what the replicas are to be measured by.
    this.#heartbeatSeen = false;
    this.#heartbeatSince = null;
    if (role.serverId !== null) this.#serverId = role.serverId;
    // On the probe connection, which just read the new server's role: the pool's may lead to the old one.
    // Unanswered in time, the round goes on (the primary did answer its role) with writes unchecked,
    // as for grants it cannot read.
    try {
      await this.#onProbe(PRIMARY, (query) => this.#checkReadOnlyBypass(query), timeout, 'primary grants');
    } catch {
      this.#bypassesReadOnly = false;
    }
  }

  /** has: does the primary at `position` have `sample`? A position it cannot parse: no. */
  #has(position: string, sample: string): boolean {
    try {
      return this.covers(position, sample);
    } catch {
      return false;
    }
  }

  /**
   * readRole reads the primary's position, which server it is (see #serverColumn), its server_id (the
   * heartbeat row key) and whether it takes writes (read_only, as ProxySQL checks).
   */
  async #readRole(query: RowQuery): Promise<{
    position: string | null;
    server: string | null;
    serverId: number | null;
    readOnly: boolean;
    clock: number;
  }> {
    const variable = this.#flavor === 'mariadb' ? '@@GLOBAL.gtid_binlog_pos' : '@@GLOBAL.gtid_executed';
    const [rows] = await query(
      `SELECT ${variable} AS position, ${this.#serverColumn()} AS server, @@server_id AS id, @@GLOBAL.read_only AS read_only, UNIX_TIMESTAMP(NOW(6)) * 1000e0 AS clock`,
    );
    const id = rows[0]?.id == null ? Number.NaN : Number(rows[0].id);
    return {
      position: emptyToNull(rows[0]?.position),
      server: this.#serverName(rows[0]?.server),
      serverId: Number.isInteger(id) ? id : null,
      readOnly: Number(rows[0]?.read_only) !== 0,
      clock: Number(rows[0]?.clock),
    };
  }

  /**
   * serverColumn selects what tells one server from another: MySQL's server_uuid (auto.cnf, kept across
   * restarts), MariaDB's server_id (it has no uuid; replication needs each server's id to differ).
   */
  #serverColumn(): string {
    return this.#flavor === 'mariadb' ? 'CAST(@@server_id AS CHAR)' : '@@server_uuid';
  }

  #serverName(value: unknown): string | null {
    const server = emptyToNull(typeof value === 'number' ? String(value) : value);
    if (server === null) return null;
    return this.#flavor === 'mariadb' ? `server_id ${server}` : `server_uuid ${server}`;
  }

  /**
   * heartbeatAge is how old a heartbeat (`stamped` by the primary's clock, ms) is at router time
   * `readAt`, by the primary's clock: the replica's (`replicaAge`, its NOW(6) minus the stamp) is off
   * by the skew between the hosts, and a replica whose clock ran 30 s behind read 0 while 4 s behind
   * (clock-skew.test.ts). The replica's only before any round has read the primary's clock.
   */
  #heartbeatAge(replicaAge: number, stamped: number, readAt: number): number {
    if (this.#primaryClock === null) return replicaAge;
    return ageByPrimaryClock(this.#primaryClock, stamped, readAt) ?? replicaAge;
  }

  /** readPosition reads the primary's position and, in the same statement, which server gave it. */
  async #readPosition(query: RowQuery): Promise<WrittenAt> {
    const variable = this.#flavor === 'mariadb' ? '@@GLOBAL.gtid_binlog_pos' : '@@GLOBAL.gtid_executed';
    const [rows] = await query(`SELECT ${variable} AS position, ${this.#serverColumn()} AS server`);
    return { position: emptyToNull(rows[0]?.position), server: this.#serverName(rows[0]?.server) };
  }

  async checkReplayed(
    replica: string,
    position: string,
    timeout: number,
  ): Promise<{ replayed: boolean; position: string | null }> {
    const seconds = timeout / 1000;
    const sql =
      this.#flavor === 'mariadb'
        ? 'SELECT MASTER_GTID_WAIT(?, ?) AS waited'
        : 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS waited';
    const pool = this.#pool(replica);
    const [rows] = await pool.query<RowDataPacket[]>(sql, [position, seconds]);
    if (Number(rows[0]?.waited) !== 0) return { replayed: false, position: null };
    if (this.#flavor === 'mysql') return { replayed: true, position };
    // MASTER_GTID_WAIT waits by sequence number alone (see mariadbCovers): a replica still following an
    // old primary nobody fenced, its numbers ahead, returned at once without the write, and the
    // session's read there missed it (fork.test.ts). Its position then says whose GTIDs it has.
    const [after] = await pool.query<RowDataPacket[]>('SELECT @@GLOBAL.gtid_slave_pos AS position');
    const replayedAt = emptyToNull(after[0]?.position);
    if (replayedAt === null) return { replayed: false, position: null };
    return { replayed: this.hasWrite(replayedAt, position), position: replayedAt };
  }

  covers(replayed: string, write: string): boolean {
    return gtidCovers(this.#flavor, replayed, write);
  }

  hasWrite(replayed: string, write: string): boolean {
    return gtidHasWrite(this.#flavor, replayed, write);
  }

  normalizeError(error: unknown, target: string): DatabaseError {
    return normalizeMysqlError(error, target);
  }

  isRetryableRead(error: DatabaseError): boolean {
    return isRetryableMysqlRead(error);
  }

  refusedAsWrite(error: DatabaseError): boolean {
    return refusedAsWriteMysql(error);
  }

  renewProbe(target: string): void {
    this.#probes.get(target)?.close();
  }

  drain(target: string): void {
    this.#generations.drain(target);
  }

  async close(): Promise<void> {
    for (const probe of this.#probes.values()) probe.close();
  }

  #pool(target: string): Pool {
    return this.#pools.get(target);
  }

  /** describe is `target (host:port)`: errors about a server's role name the server. */
  #describe(target: string): string {
    return describeAddress(target, mysqlAddress(this.#pool(target)));
  }
}

/** mysqlAddress is the host:port (or socket) a mysql2 pool connects to, or null for another kind of pool. */
function mysqlAddress(pool: Pool): string | null {
  const config = (
    pool as unknown as {
      pool?: { config?: { connectionConfig?: { host?: string; port?: number; socketPath?: string } } };
    }
  ).pool?.config?.connectionConfig;
  if (typeof config !== 'object' || config === null) return null;
  if (typeof config.socketPath === 'string' && config.socketPath !== '') return config.socketPath;
  return `${config.host ?? 'localhost'}:${config.port ?? 3306}`;
}

/** coreConnection is the mysql2 core connection a promise pool connection wraps (what 'connection' gives). */
function coreConnection(connection: PoolConnection): object {
  return (connection as unknown as { connection?: object }).connection ?? connection;
}

/**
 * bypassesReadOnly: a SHOW GRANTS line gives privileges on *.* that read_only does not bind (MariaDB
 * SUPER before 11.0 and READ_ONLY ADMIN; MySQL SUPER and CONNECTION_ADMIN, unless super_read_only).
 */
export function bypassesReadOnly(grant: string): boolean {
  const global = /^GRANT (.+) ON \*\.\* TO /i.exec(grant);
  if (global === null) return false;
  return /\b(ALL PRIVILEGES|SUPER|READ_ONLY ADMIN|CONNECTION_ADMIN)\b/i.test(global[1] ?? '');
}

function emptyToNull(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

/**
 * probeLink opens connections like the pool's own (a copy of its connection settings), or null for a
 * pool that is not mysql2's promise pool.
 */
function probeLink(pool: Pool): ProbeLink<mysql.Connection> | null {
  const config = (pool as unknown as { pool?: { config?: { connectionConfig?: object } } }).pool?.config
    ?.connectionConfig;
  if (typeof config !== 'object' || config === null) return null;
  return {
    create: () => {
      // A copy, as the pool makes for each of its connections: a connection writes to its config.
      const copy = Object.create(Object.getPrototypeOf(config), Object.getOwnPropertyDescriptors(config));
      // The probe bounds its connect by its own timeout, not the pool's connectTimeout.
      copy.connectTimeout = 0;
      // mysql2's types leave out the constructor the pool itself uses.
      const Connection = mysql.Connection as unknown as new (options: { config: object }) => mysql.Connection;
      const connection = new Connection({ config: copy });
      // A probe connection whose server goes away errors when idle; the next probe finds out and says so.
      connection.on('error', () => {});
      return connection;
    },
    connect: (connection) =>
      new Promise<void>((resolve, reject) =>
        connection.connect((error) => (error ? reject(error) : resolve())),
      ),
    destroy: (connection) => {
      // destroy() only half-closes; a frozen server would keep the socket open until it wakes.
      connection.destroy();
      (connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
    },
  };
}
