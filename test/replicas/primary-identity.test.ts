// Which server the primary is, on a real MariaDB primary with two replicas: the same server back after
// a crash is no change of primary (a session's write position still compares), and a failover no
// probe round sees (the address moved to a promoted replica between two rounds) is caught by the
// first session write that lands there. A private set of servers (3391 primary, 3392 and 3393
// replicas, own folder, removed after); its cases run in order, each from the state the one before left.
// The same on PostgreSQL, whose primary is told apart by its timeline: a private pair (5491/5492,
// clusters sp_primary_5491 and sp_replica_5492, dropped after).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { createMysqlRouter, createPgRouter, type ReplicaDecision } from '../../src/replicas/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { mariadbCaughtUp } from './mariadb-caught-up.js';
import { mariadbPool } from './private-mariadb.js';

const run = promisify(execFile);
const PRIMARY_PORT = 3391;
const R1_PORT = 3392;
const R2_PORT = 3393;
const TABLE = 'identity_t';

describe('MariaDB: which server the primary is', { timeout: 240_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let admin: { primary: Pool; r1: Pool; r2: Pool };
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'services', 'mariadb-replica.sh');
  const cleanups: Array<() => Promise<unknown>> = [];

  before(async () => {
    // Under /tmp itself, readable by the mysql user the servers run as (the run's TMPDIR is not).
    dir = await mkdtemp('/tmp/replicas-identity-');
    await chmod(dir, 0o755);
    env = {
      ...process.env,
      SCALEPLANE_MARIADB_PRIMARY_PORT: String(PRIMARY_PORT),
      SCALEPLANE_MARIADB_REPLICA_PORTS: `${R1_PORT} ${R2_PORT}`,
      SCALEPLANE_MARIADB_DIR: join(dir, 'mariadb'),
      TMPDIR: '/tmp',
    };
    await run('bash', [script, 'up'], { env, timeout: 180_000 });
    admin = {
      primary: mariadbPool(PRIMARY_PORT, 'root'),
      r1: mariadbPool(R1_PORT, 'root'),
      r2: mariadbPool(R2_PORT, 'root'),
    };
    await admin.primary.query(`CREATE TABLE ${TABLE} (id INT PRIMARY KEY, note VARCHAR(40))`);
    await replicated(admin.primary, [R1_PORT, R2_PORT]);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await Promise.all([admin?.primary.end(), admin?.r1.end(), admin?.r2.end()]);
    if (env !== undefined) await run('bash', [script, 'down'], { env, timeout: 60_000 }).catch(() => {});
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function replicated(source: Pool, ports: number[]): Promise<void> {
    for (const port of ports)
      await mariadbCaughtUp(source, port, `${port} applies the primary's writes within 30 s`);
  }

  function router(primary: Pool, name: string) {
    // No scheduled round: only start(), probeNow() and what a write causes probe. maxLag 60 s: the
    // bound a session that wrote before a change of primary reads from the primary is max(window,
    // maxLag), so a read right after the change is inside it whatever the machine's speed.
    const db = createMysqlRouter({
      primary,
      replicas: { r1: mariadbPool(R1_PORT, 'scaleplane'), r2: mariadbPool(R2_PORT, 'scaleplane') },
      name,
      probeInterval: 60_000,
      probeTimeout: 2_000,
      maxLag: 60_000,
      holdTime: 0,
    });
    const decisions: ReplicaDecision[] = [];
    db.on('decision', (d) => decisions.push(d));
    db.on('error', () => {});
    cleanups.push(async () => {
      await db.close();
      await primary.end();
    });
    return { db, decisions };
  }

  /** where reads, through the router, which server answered and whether it has row `id`. */
  async function where(db: ReturnType<typeof router>['db'], id: number) {
    const [rows] = (await db.query(
      `SELECT @@port AS port, (SELECT COUNT(*) FROM ${TABLE} WHERE id = ?) AS has FROM DUAL`,
      [id],
    )) as [RowDataPacket[], unknown];
    return { port: Number(rows[0]?.port), has: Number(rows[0]?.has) === 1 };
  }

  it('the same server back after a crash: a session that wrote before reads from a replica that has its write', async () => {
    const { db, decisions } = router(mariadbPool(PRIMARY_PORT, 'scaleplane'), 'identity-restart');
    await db.start();
    await db.session(async () => {
      await db.write(`INSERT INTO ${TABLE} VALUES (1, 'before the crash')`);
      await replicated(admin.primary, [R1_PORT, R2_PORT]);
      await run('bash', [script, 'stop-primary'], { env, timeout: 60_000 });
      await db.probeNow();
      assert.ok(
        decisions.some((d) => d.kind === 'PrimaryUnreachable'),
        `the killed primary is unreachable: ${decisions.map((d) => d.kind).join(', ')}`,
      );
      await run('bash', [script, 'start-primary'], { env, timeout: 120_000 });
      await db.probeNow();
      const read = await where(db, 1);
      assert.ok(
        [R1_PORT, R2_PORT].includes(read.port),
        `the same primary came back, yet the session's read went to ${read.port} (the primary is ${PRIMARY_PORT}): ${JSON.stringify(db.status())}`,
      );
      assert.equal(read.has, true, 'the replica read has the session write');
      const restored = decisions.find((d) => d.kind === 'PrimaryRestored');
      assert.deepEqual(restored?.reasons, ['PrimaryReachable', 'SameServer'], restored?.message);
    });
    // Replication resumed on its own (MASTER_CONNECT_RETRY=1) for the next case.
    await replicated(admin.primary, [R1_PORT, R2_PORT]);
  });

  it('a failover between two rounds, found by the first session write that lands on the promoted replica', async () => {
    const address = await pausableProxy(PRIMARY_PORT);
    cleanups.push(() => address.close());
    const { db, decisions } = router(mariadbPool(address.port, 'scaleplane'), 'identity-failover');
    await db.start();
    // r1 falls behind; r2 gets a write r1 never will: the old primary's last commit.
    await admin.r1.query('STOP SLAVE');
    await admin.primary.query(`INSERT INTO ${TABLE} VALUES (2, 'only r2 has this')`);
    await replicated(admin.primary, [R2_PORT]);
    await db.probeNow();
    const seen = decisions.length;

    // The failover, between two rounds: the primary dies, r1 is promoted, the address moves to it.
    await run('bash', [script, 'stop-primary'], { env, timeout: 60_000 });
    await admin.r1.query('RESET SLAVE ALL');
    await admin.r1.query('SET GLOBAL read_only = 0');
    address.moveTo(R1_PORT);

    await db.session(async () => {
      await db.write(`INSERT INTO ${TABLE} VALUES (3, 'on the new primary')`);
      // r2's GTID (0-1-N) is as high as the write's (0-3392-N): compared, it looked caught up.
      const read = await where(db, 3);
      assert.equal(
        read.has,
        true,
        `the session's read after its write went to ${read.port} and missed the write (r2 is ${R2_PORT})`,
      );
      assert.equal(read.port, R1_PORT, 'read from the new primary, through the moved address');
      const replaced = decisions.slice(seen).find((d) => d.kind === 'PrimaryReplaced');
      assert.deepEqual(
        replaced?.reasons,
        ['PrimaryReplaced', 'WriteLanded'],
        `the write on the promoted replica is noticed: ${decisions
          .slice(seen)
          .map((d) => d.kind)
          .join(', ')}`,
      );
    });
  });
});

describe('PostgreSQL: which server the primary is', { timeout: 240_000 }, () => {
  const PG_PRIMARY = 5491;
  const PG_REPLICA = 5492;
  const env = {
    ...process.env,
    SCALEPLANE_PG_PRIMARY_PORT: String(PG_PRIMARY),
    SCALEPLANE_PG_REPLICA_PORTS: String(PG_REPLICA),
  };
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'services', 'postgres-replica.sh');
  const cleanups: Array<() => Promise<unknown>> = [];
  let admin: { primary: pg.Pool; replica: pg.Pool };
  const pgPool = (port: number) =>
    new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 4 });

  before(async () => {
    await run('bash', [script, 'up'], { env, timeout: 180_000 });
    admin = { primary: pgPool(PG_PRIMARY), replica: pgPool(PG_REPLICA) };
    for (const p of Object.values(admin)) p.on('error', () => {});
    await admin.primary.query('CREATE TABLE IF NOT EXISTS identity_t (id int PRIMARY KEY)');
    await admin.primary.query('TRUNCATE identity_t');
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await Promise.all([admin?.primary.end(), admin?.replica.end()]);
    // Only this file's clusters: the script's `down` drops every sp_* cluster, other files' pairs too.
    // pg_dropcluster leaves the config folder behind when conf.d holds the script's file, and the
    // script takes that folder for the cluster: the next run's `up` failed "does not exist".
    for (const name of [`sp_replica_${PG_REPLICA}`, `sp_primary_${PG_PRIMARY}`]) {
      await run('pg_dropcluster', ['--stop', '15', name], { timeout: 60_000 }).catch(() => {});
      await rm(`/etc/postgresql/15/${name}`, { recursive: true, force: true });
    }
  });

  /** replayed waits until the replica has replayed the primary's insert position. */
  async function replayed(): Promise<void> {
    const { rows } = await admin.primary.query('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    for (let i = 0; i < 3000; i++) {
      const { rows: at } = await admin.replica.query(
        'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
        [rows[0].lsn],
      );
      if (at[0]?.done === true) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail('the replica did not replay the primary within 30 s');
  }

  function router(primary: pg.Pool, name: string) {
    primary.on('error', () => {});
    const replica = pgPool(PG_REPLICA);
    replica.on('error', () => {});
    const db = createPgRouter({
      primary,
      replicas: { r1: replica },
      name,
      probeInterval: 60_000,
      probeTimeout: 2_000,
      maxLag: 60_000,
      holdTime: 0,
    });
    const decisions: ReplicaDecision[] = [];
    db.on('decision', (d) => decisions.push(d));
    db.on('error', () => {});
    cleanups.push(async () => {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    });
    return { db, decisions };
  }

  async function where(db: ReturnType<typeof router>['db'], id: number) {
    const { rows } = await db.query(
      "SELECT current_setting('port')::int AS port, EXISTS (SELECT 1 FROM identity_t WHERE id = $1) AS has",
      [id],
    );
    return { port: Number(rows[0]?.port), has: rows[0]?.has === true };
  }

  it('the same server back after a crash (pg_ctl -m immediate): a session that wrote before reads from the replica that has its write', async () => {
    const { db, decisions } = router(pgPool(PG_PRIMARY), 'pg-identity-restart');
    await db.start();
    await db.session(async () => {
      await db.write('INSERT INTO identity_t VALUES (1)');
      await replayed();
      await run('bash', [script, 'stop-primary'], { env, timeout: 60_000 });
      await db.probeNow();
      assert.ok(
        decisions.some((d) => d.kind === 'PrimaryUnreachable'),
        `the stopped primary is unreachable: ${decisions.map((d) => d.kind).join(', ')}`,
      );
      await run('bash', [script, 'start-primary'], { env, timeout: 120_000 });
      await db.probeNow();
      const read = await where(db, 1);
      assert.equal(
        read.port,
        PG_REPLICA,
        `the same primary came back, yet the session's read went to ${read.port}: ${JSON.stringify(db.status())}`,
      );
      assert.equal(read.has, true, 'the replica read has the session write');
      const restored = decisions.find((d) => d.kind === 'PrimaryRestored');
      assert.deepEqual(restored?.reasons, ['PrimaryReachable', 'SameServer'], restored?.message);
    });
  });

  it('the replica promoted (a new timeline) and the address moved between two rounds: the first session write there says so', async () => {
    const address = await pausableProxy(PG_PRIMARY);
    cleanups.push(() => address.close());
    const { db, decisions } = router(pgPool(address.port), 'pg-identity-failover');
    await db.start();
    await db.write('INSERT INTO identity_t VALUES (2)');
    await replayed();
    const seen = decisions.length;
    await run('bash', [script, 'stop-primary'], { env, timeout: 60_000 });
    await admin.replica.query('SELECT pg_promote(true, 30)');
    address.moveTo(PG_REPLICA);
    await db.session(async () => {
      await db.write('INSERT INTO identity_t VALUES (3)');
      const read = await where(db, 3);
      assert.equal(read.has, true, `the session's read went to ${read.port} and missed its write`);
      const replaced = decisions.slice(seen).find((d) => d.kind === 'PrimaryReplaced');
      assert.deepEqual(
        replaced?.reasons,
        ['PrimaryReplaced', 'WriteLanded'],
        `the write on the promoted replica (timeline 2) is noticed: ${decisions
          .slice(seen)
          .map((d) => d.message)
          .join('; ')}`,
      );
    });
  });
});
