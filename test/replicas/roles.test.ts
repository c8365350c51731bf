// Servers whose role is not the one the router is given: after a failover the configured primary is a
// standby (PostgreSQL in recovery, MariaDB read_only ON) and a configured replica was promoted or is
// the primary itself. ProxySQL and Pgpool-II pick the writer by read_only / pg_is_in_recovery(); the
// router checks the same each probe round: writes are refused naming the host before any is sent
// (a SUPER user's writes succeed on a read_only server, errant transactions on a standby), and a
// writable replica gets no reads (a function with side effects classified a read would write there).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
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
import {
  ensureSteadyPostgresReplication,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

const run = promisify(execFile);

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

// A private MariaDB pair (own ports, own data folder, stopped and removed after) the wrong way round,
// through root: SUPER, which read_only does not bind. The router's own heartbeat and a db.write() ran
// on the read_only standby before, as errant transactions (GTIDs of the standby's own server_id).
const PRIMARY_PORT = 3351;
const REPLICA_PORT = 3352;

describe('MariaDB: a read_only primary and a writable replica', { timeout: 180_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let primaryPool: MysqlPool;
  let replicaPool: MysqlPool;
  let db: ReplicaRouter<MysqlResult>;
  const registry = new Registry();
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'services', 'mariadb-replica.sh');

  before(async () => {
    // Under /tmp itself, readable by the mysql user the servers run as (the run's TMPDIR is not).
    dir = await mkdtemp('/tmp/replicas-roles-');
    await chmod(dir, 0o755);
    env = {
      ...process.env,
      SCALEPLANE_MARIADB_PRIMARY_PORT: String(PRIMARY_PORT),
      SCALEPLANE_MARIADB_REPLICA_PORTS: String(REPLICA_PORT),
      SCALEPLANE_MARIADB_DIR: join(dir, 'mariadb'),
      TMPDIR: '/tmp',
    };
    await run('bash', [script, 'up'], { env, timeout: 180_000 });
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
    if (env !== undefined) await run('bash', [script, 'down'], { env, timeout: 60_000 }).catch(() => {});
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function waitReplicated(): Promise<void> {
    const [[at]] = (await replicaPool.query('SELECT @@GLOBAL.gtid_binlog_pos AS pos')) as [
      RowDataPacket[],
      unknown,
    ];
    // On a connection without a default database: the standby may not have replayed
    // CREATE DATABASE scaleplane_test yet (a pool naming it failed "Unknown database" under load).
    const standby = await mysql.createConnection({ host: '127.0.0.1', port: REPLICA_PORT, user: 'root' });
    try {
      const [[waited]] = (await standby.query('SELECT MASTER_GTID_WAIT(?, 30) AS w', [at?.pos])) as [
        RowDataPacket[],
        unknown,
      ];
      assert.equal(Number(waited?.w), 0, 'the standby replays the table');
    } finally {
      await standby.end();
    }
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
