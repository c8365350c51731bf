// Servers whose role is not the one the router is given: after a failover the configured primary is a
// standby (PostgreSQL in recovery, MariaDB read_only ON) and a configured replica was promoted or is
// the primary itself. ProxySQL and Pgpool-II pick the writer by read_only / pg_is_in_recovery(); the
// router checks the same each probe round: writes are refused naming the host before any is sent
// (a SUPER user's writes succeed on a read_only server, errant transactions on a standby), and a
// writable replica gets no reads (a function with side effects classified a read would write there).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type Pool as MysqlPool, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { Registry } from 'prom-client';
import {
  createMysqlRouter,
  createPgRouter,
  type ReplicaDecision,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import type { MysqlResult } from '../../src/replicas/mysql/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import { mariadbCaughtUp } from './mariadb-caught-up.js';
import { type PrivateMariadbPair, privateMariadbPair } from './private-mariadb.js';
import {
  ensureSteadyPostgresReplication,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

function pgPool(port: number): pg.Pool {
  const p = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 4 });
  p.on('error', () => {});
  return p;
}

/** roleSeries lists the router's role-mismatch series on the /metrics text. */
async function roleSeries(registry: Registry, router: string): Promise<string[]> {
  return (await registry.metrics())
    .split('\n')
    .filter((l) => l.startsWith(`scaleplane_replica_role_mismatch{router="${router}"`));
}

// The steady pair the wrong way round: its standby (5444) given as the primary, its primary (5443) as
// r1. Nothing is written to either: the router only probes and reads, and refuses the write.
describe('PostgreSQL: a primary in recovery and a replica that is not', { timeout: 120_000 }, () => {
  let primaryPool: pg.Pool;
  let replicaPool: pg.Pool;
  let db: ReplicaRouter<PgResult>;
  const registry = new Registry();

  before(async () => {
    await ensureSteadyPostgresReplication();
    primaryPool = pgPool(PG_STEADY_REPLICA_PORT);
    replicaPool = pgPool(PG_STEADY_PRIMARY_PORT);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primaryPool, replicaPool].map((p) => p?.end()));
  });

  it('refuses writes naming the standby, excludes the writable replica naming it', async () => {
    db = createPgRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'swapped-pg',
      registry,
    });
    db.on('error', () => {});
    const decisions: ReplicaDecision[] = [];
    db.on('decision', (d) => decisions.push(d));
    await db.start();

    const readOnly = decisions.find((d) => d.kind === 'PrimaryReadOnly');
    assert.ok(readOnly, `no PrimaryReadOnly decision: ${decisions.map((d) => d.kind).join(', ')}`);
    assert.match(readOnly.message, new RegExp(`127\\.0\\.0\\.1:${PG_STEADY_REPLICA_PORT}.*in recovery`));
    assert.equal(
      decisions.some((d) => d.kind === 'PrimaryUnreachable'),
      false,
      'a standby that answers is no unreachable primary',
    );
    const [r1] = db.status();
    assert.equal(r1?.eligible, false, `the writable r1 is eligible (${r1?.reason}, ${r1?.source})`);
    assert.equal(r1?.reason, 'Writable', `r1's reason: ${r1?.reason}`);
    const excluded = decisions.find((d) => d.replica === 'r1' && d.reasons.includes('REPLICA_WRITABLE'));
    assert.ok(excluded, `no decision names r1 writable: ${JSON.stringify(decisions)}`);
    assert.deepEqual(
      (await roleSeries(registry, 'swapped-pg')).sort(),
      [
        'scaleplane_replica_role_mismatch{router="swapped-pg",target="primary"} 1',
        'scaleplane_replica_role_mismatch{router="swapped-pg",target="r1"} 1',
      ],
      'the role-mismatch gauge flags both',
    );

    await assert.rejects(
      db.write('CREATE TABLE replicas_roles_never (id int)'),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'REPLICA_PRIMARY_READ_ONLY', `${error.code}: ${error.message}`);
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${PG_STEADY_REPLICA_PORT}`));
        return true;
      },
    );
    await assert.rejects(
      db.transaction(async (tx) => tx.query('SELECT 1')),
      (error: Error & { code?: string }) => error.code === 'REPLICA_PRIMARY_READ_ONLY',
      'a read-write transaction is refused too',
    );
    // Reads still work: none is eligible, so they go to the primary, a standby that serves them.
    const { rows } = await db.query('SELECT inet_server_port() AS port');
    assert.equal(rows[0]?.port, PG_STEADY_REPLICA_PORT, `a read went to ${rows[0]?.port}`);
    await db.close();
    assert.deepEqual(await roleSeries(registry, 'swapped-pg'), [], 'a closed router leaves no role gauge');
  });
});

// A primary fenced, not stopped: default_transaction_read_only on, as a failover does to a primary it
// cannot shut down. A database of this file's own on the shared server (5432), set for new sessions
// only (ALTER DATABASE), so the router's probe session, opened before, still reads it writable: only
// a refused write can tell the router.
describe('PostgreSQL: a primary fenced with default_transaction_read_only', { timeout: 60_000 }, () => {
  const database = `scaleplane_fenced_${process.pid}`;
  const shared = () =>
    new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', max: 1 });
  let admin: pg.Pool;
  let primary: pg.Pool;
  let db: ReplicaRouter<PgResult>;

  /** onOwnClient runs `sql` on a client of its own: the router's pool stays empty until it writes. */
  async function onOwnClient(sql: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  }

  before(async () => {
    admin = shared();
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database}`);
    await onOwnClient('CREATE TABLE fenced_t (id int PRIMARY KEY)');
    primary = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database, max: 4 });
    primary.on('error', () => {});
  });

  after(async () => {
    await db?.close();
    await primary?.end();
    await admin?.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin?.end();
  });

  it('the first refused write makes it read-only: the next is refused unsent, and sent once it takes writes', async () => {
    db = createPgRouter({ primary, replicas: {}, name: 'fenced-pg', probeInterval: 60_000 });
    db.on('error', () => {});
    const decisions: ReplicaDecision[] = [];
    db.on('decision', (d) => decisions.push(d));
    await db.start();

    await admin.query(`ALTER DATABASE ${database} SET default_transaction_read_only = on`);
    await assert.rejects(
      db.write('INSERT INTO fenced_t VALUES (1)'),
      (error: Error & { sqlState?: string }) => {
        assert.equal(
          error.sqlState,
          '25006',
          `the first write is sent and refused by the server: ${error.message}`,
        );
        return true;
      },
    );
    const readOnly = decisions.find((d) => d.kind === 'PrimaryReadOnly');
    assert.ok(
      readOnly,
      `the refusal makes the primary read-only at once: ${decisions.map((d) => d.kind).join(', ')}`,
    );
    assert.ok(readOnly.reasons.includes('WriteRefused'), `reasons: ${readOnly.reasons.join(', ')}`);
    await assert.rejects(db.write('INSERT INTO fenced_t VALUES (2)'), (error: Error & { code?: string }) => {
      assert.equal(
        error.code,
        'REPLICA_PRIMARY_READ_ONLY',
        `the next write is refused unsent, a round on a new probe session confirming the fence: ${error.code} ${error.message}`,
      );
      assert.match(error.message, /default_transaction_read_only on/);
      return true;
    });

    await admin.query(`ALTER DATABASE ${database} RESET default_transaction_read_only`);
    await db.write('INSERT INTO fenced_t VALUES (3)');
    const { rows } = await onOwnClient('SELECT id FROM fenced_t ORDER BY id');
    assert.deepEqual(
      rows.map((r) => r.id),
      [3],
      'only the write after the fence was lifted, on a connection opened since (the fenced one retired)',
    );
  });
});

// A private MariaDB pair (own ports, own data folder, stopped and removed after) the wrong way round,
// through root: SUPER, which read_only does not bind. The router's own heartbeat and a db.write() ran
// on the read_only standby before, as errant transactions (GTIDs of the standby's own server_id).
const PRIMARY_PORT = 3351;
const REPLICA_PORT = 3352;

// Up to 180 s for `up` on a loaded machine, then the cases and up to 120 s for `down`.
describe('MariaDB: a read_only primary and a writable replica', { timeout: 360_000 }, () => {
  let pair: PrivateMariadbPair | undefined;
  let primaryPool: MysqlPool;
  let replicaPool: MysqlPool;
  let db: ReplicaRouter<MysqlResult>;
  const registry = new Registry();

  before(async () => {
    pair = await privateMariadbPair('roles', PRIMARY_PORT, REPLICA_PORT);
    await pair.run(['up']);
    const pool = (port: number) =>
      mysql.createPool({
        host: '127.0.0.1',
        port,
        user: 'root',
        database: 'scaleplane_test',
        connectionLimit: 4,
      });
    // Swapped: the standby is the router's primary.
    primaryPool = pool(REPLICA_PORT);
    replicaPool = pool(PRIMARY_PORT);
    await replicaPool.query('CREATE TABLE IF NOT EXISTS roles_t (id INT PRIMARY KEY)');
    await waitReplicated();
  });

  after(async () => {
    await db?.close();
    await Promise.all([primaryPool, replicaPool].map((p) => p?.end()));
    await pair?.down();
  });

  async function waitReplicated(): Promise<void> {
    await mariadbCaughtUp(replicaPool, REPLICA_PORT, 'the standby replays the table');
  }

  /** errantGtids lists the standby's own transactions: GTIDs with its server_id. */
  async function errantGtids(): Promise<string[]> {
    const [[row]] = (await primaryPool.query('SELECT @@GLOBAL.gtid_binlog_pos AS pos')) as [
      RowDataPacket[],
      unknown,
    ];
    return String(row?.pos ?? '')
      .split(',')
      .filter((gtid) => gtid.split('-')[1] === String(REPLICA_PORT));
  }

  it('writes nothing on the read_only standby, refuses writes naming it, excludes the writable replica', async () => {
    db = createMysqlRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'swapped-mariadb',
      registry,
    });
    db.on('error', () => {});
    const decisions: ReplicaDecision[] = [];
    db.on('decision', (d) => decisions.push(d));
    await db.start();
    await db.probeNow();

    const readOnly = decisions.find((d) => d.kind === 'PrimaryReadOnly');
    assert.ok(readOnly, `no PrimaryReadOnly decision: ${decisions.map((d) => d.kind).join(', ')}`);
    assert.match(readOnly.message, new RegExp(`127\\.0\\.0\\.1:${REPLICA_PORT}.*read_only`));
    const [r1] = db.status();
    assert.equal(r1?.reason, 'Writable', `r1: ${r1?.eligible} ${r1?.reason} (${r1?.source})`);
    assert.deepEqual(
      (await roleSeries(registry, 'swapped-mariadb')).sort(),
      [
        'scaleplane_replica_role_mismatch{router="swapped-mariadb",target="primary"} 1',
        'scaleplane_replica_role_mismatch{router="swapped-mariadb",target="r1"} 1',
      ],
      'the role-mismatch gauge flags both',
    );
    await assert.rejects(db.write('INSERT INTO roles_t VALUES (1)'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'REPLICA_PRIMARY_READ_ONLY', `${error.code}: ${error.message}`);
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${REPLICA_PORT}`));
      return true;
    });
    assert.deepEqual(await errantGtids(), [], 'the router wrote on the read_only standby');
    const [rows] = (await primaryPool.query('SELECT COUNT(*) AS n FROM roles_t')) as [
      RowDataPacket[],
      unknown,
    ];
    assert.equal(Number(rows[0]?.n), 0, 'the refused INSERT ran on the standby');

    // Promoted (read_only OFF): writes are sent again from the next round on, heartbeat table and all.
    await primaryPool.query('SET GLOBAL read_only = 0');
    await db.probeNow();
    assert.ok(
      decisions.some((d) => d.kind === 'PrimaryWritable'),
      `no PrimaryWritable decision: ${decisions.map((d) => d.kind).join(', ')}`,
    );
    await db.write('INSERT INTO roles_t VALUES (2)');
    const [[table]] = (await primaryPool.query(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'scaleplane_heartbeat'",
    )) as [RowDataPacket[], unknown];
    assert.equal(Number(table?.n), 1, 'the heartbeat table is created once the primary takes writes');
  });
});
