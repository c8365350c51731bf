// A replica pool that reaches a server replicating another cluster (a staging replica, a replica left
// following the old primary after a failover, a host name mixed up): fresh by every lag measure its
// own cluster gives, and every read there returns the other cluster's data. The router must see that
// it is not a replica of the primary it is given, and send it no reads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type Pool as MysqlPool, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import {
  createMysqlRouter,
  createPgRouter,
  type ReplicaError,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import type { MysqlResult } from '../../src/replicas/mysql/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import { until } from '../helpers/until.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

// The machine's own cluster, which no test stops: the primary the router is given. The steady replica
// (5444) replicates another cluster (5443).
const PG_OTHER_PRIMARY_PORT = 5432;

function pool(port: number): pg.Pool {
  const p = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 4 });
  p.on('error', () => {});
  return p;
}

describe('PostgreSQL: a replica of another cluster', { timeout: 120_000 }, () => {
  let primaryPool: pg.Pool;
  let replicaPool: pg.Pool;
  let itsPrimary: pg.Pool;
  let db: ReplicaRouter<PgResult>;
  const errors: ReplicaError[] = [];

  before(async () => {
    await ensureSteadyPostgresReplication();
    primaryPool = pool(PG_OTHER_PRIMARY_PORT);
    replicaPool = pool(PG_STEADY_REPLICA_PORT);
    itsPrimary = pool(PG_STEADY_PRIMARY_PORT);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primaryPool, replicaPool, itsPrimary].map((p) => p?.end()));
  });

  it('gets no reads, and the probe says which cluster it replicates', async () => {
    // A commit just replayed there: its own replay timestamp says it is fresh.
    await itsPrimary.query('CREATE TABLE IF NOT EXISTS replicas_other_cluster (at timestamptz)');
    await itsPrimary.query('INSERT INTO replicas_other_cluster VALUES (now())');
    const { rows } = await itsPrimary.query('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    await until(
      async () =>
        (await replicaPool.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [rows[0].lsn]))
          .rows[0].done === true,
      20_000,
      'the steady replica replaying its primary',
    );
    db = createPgRouter({ primary: primaryPool, replicas: { r1: replicaPool }, name: 'other-cluster' });
    db.on('error', (error) => errors.push(error));
    const probes: Array<{ target: string; message: string }> = [];
    db.on('probe', (report) => {
      for (const e of report.errors) probes.push({ target: e.target, message: e.error.message });
    });
    await db.start();
    const [r1] = db.status();
    assert.equal(
      r1?.eligible,
      false,
      `r1 replicates ${PG_STEADY_PRIMARY_PORT}, not the primary ${PG_OTHER_PRIMARY_PORT}, yet it is eligible (${r1?.reason}, lag ${r1?.lag} ms from ${r1?.source})`,
    );
    assert.equal(r1?.source, 'other-cluster', `r1's lag source: ${r1?.source}`);
    const port = (await db.query('SELECT inet_server_port() AS port')).rows[0].port;
    assert.equal(port, PG_OTHER_PRIMARY_PORT, `a read went to ${port}, a server of another cluster`);
    const said = probes.find((p) => p.target === 'r1');
    assert.match(
      said?.message ?? '',
      /r1 replicates another cluster \(system identifier \d+; the primary's is \d+\)/,
      `the probe's error for r1: ${JSON.stringify(probes)}`,
    );
  });
});

// Some hardened servers revoke EXECUTE on pg_control_system() from PUBLIC: the router's role cannot
// read the system identifier there, and the server must still be probed (not taken for unreachable).
describe('PostgreSQL: a role that may not read the system identifier', { timeout: 120_000 }, () => {
  const ROLE = 'sp_no_identity';
  let admin: pg.Pool;
  let db: ReplicaRouter<PgResult>;
  let primaryPool: pg.Pool;
  let replicaPool: pg.Pool;

  function rolePool(port: number): pg.Pool {
    const p = new pg.Pool({ host: '127.0.0.1', port, user: ROLE, database: 'postgres', max: 4 });
    p.on('error', () => {});
    return p;
  }

  before(async () => {
    await ensureSteadyPostgresReplication();
    admin = pool(PG_STEADY_PRIMARY_PORT);
    await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
    await admin.query(`CREATE ROLE ${ROLE} LOGIN`);
    await admin.query('REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC');
    const replicaAdmin = pool(PG_STEADY_REPLICA_PORT);
    try {
      await until(
        async () =>
          (
            await replicaAdmin
              .query(
                `SELECT NOT has_function_privilege('${ROLE}', 'pg_control_system()', 'execute') AS revoked`,
              )
              // 42704: the replica has not replayed the CREATE ROLE yet (failed a loaded run).
              .catch((err: { code?: string }) => {
                if (err.code === '42704') return { rows: [{ revoked: false }] };
                throw err;
              })
          ).rows[0].revoked === true,
        20_000,
        'the role and the revoke on the replica',
      );
    } finally {
      await replicaAdmin.end();
    }
    primaryPool = rolePool(PG_STEADY_PRIMARY_PORT);
    replicaPool = rolePool(PG_STEADY_REPLICA_PORT);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primaryPool, replicaPool].map((p) => p?.end()));
    await admin?.query('GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC').catch(() => {});
    await admin?.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {});
    await admin?.end();
  });

  it('probes the primary and the replica without it, and says so', async () => {
    db = createPgRouter({ primary: primaryPool, replicas: { r1: replicaPool }, name: 'no-identity' });
    const errors: ReplicaError[] = [];
    db.on('error', (error) => errors.push(error));
    const unreachable: string[] = [];
    db.on('decision', (d) => {
      if (d.kind === 'PrimaryUnreachable') unreachable.push(d.message);
    });
    await db.start();
    const [r1] = db.status();
    assert.deepEqual(unreachable, [], 'the primary, which answers, was taken for unreachable');
    assert.equal(r1?.eligible, true, `r1 is not eligible: ${r1?.reason} (${r1?.source})`);
    const port = (await db.query('SELECT inet_server_port() AS port')).rows[0].port;
    assert.equal(port, PG_STEADY_REPLICA_PORT, `a read went to ${port}`);
    assert.ok(
      errors.some((e) => /cannot read its system identifier/.test(e.message)),
      `reported: ${errors.map((e) => e.message).join('; ')}`,
    );
  });
});

// MariaDB: the machine's own server (3306, server_id 1) as the primary; the steady replica (3344)
// follows 3343, whose server_id is 1 as well, the default, as most primaries' is. A router on that
// other cluster (its own application, with the same heartbeat table) writes heartbeats keyed 1.
const MARIADB_OTHER_PRIMARY_PORT = 3306;
const HEARTBEAT = 'test.replicas_other_cluster_hb';

function mariadbPool(port: number): MysqlPool {
  return mysql.createPool({ host: '127.0.0.1', port, user: 'root', database: 'test', connectionLimit: 4 });
}

describe('MariaDB: a replica of another cluster', { timeout: 120_000 }, () => {
  let primaryPool: MysqlPool;
  let replicaPool: MysqlPool;
  let itsPrimary: MysqlPool;
  let theirs: ReplicaRouter<MysqlResult>;
  let db: ReplicaRouter<MysqlResult>;

  before(async () => {
    await ensureSteadyMariadbReplication();
    primaryPool = mariadbPool(MARIADB_OTHER_PRIMARY_PORT);
    replicaPool = mariadbPool(MARIADB_STEADY_REPLICA_PORT);
    itsPrimary = mariadbPool(MARIADB_STEADY_PRIMARY_PORT);
  });

  after(async () => {
    await db?.close();
    await theirs?.close();
    await primaryPool?.query(`DROP TABLE IF EXISTS ${HEARTBEAT}`).catch(() => {});
    await itsPrimary?.query(`DROP TABLE IF EXISTS ${HEARTBEAT}`).catch(() => {});
    await Promise.all([primaryPool, replicaPool, itsPrimary].map((p) => p?.end()));
  });

  it('gets no reads although its heartbeat row, keyed by the same server_id, is fresh', async () => {
    const [[ours]] = await primaryPool.query<RowDataPacket[]>('SELECT @@server_id AS id');
    const [[theirId]] = await itsPrimary.query<RowDataPacket[]>('SELECT @@server_id AS id');
    assert.equal(Number(ours?.id), Number(theirId?.id), 'both primaries have the same server_id');
    theirs = createMysqlRouter({
      primary: itsPrimary,
      replicas: { r1: replicaPool },
      name: 'their-cluster',
      heartbeatTable: HEARTBEAT,
    });
    theirs.on('error', () => {});
    await theirs.start();
    await until(
      async () => {
        await theirs.probeNow();
        return theirs.status()[0]?.source === 'heartbeat' && theirs.status()[0]?.eligible === true;
      },
      20_000,
      'the other cluster measuring its replica by heartbeat',
    );

    db = createMysqlRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'other-cluster',
      heartbeatTable: HEARTBEAT,
    });
    db.on('error', () => {});
    const probes: Array<{ target: string; message: string }> = [];
    db.on('probe', (report) => {
      for (const e of report.errors) probes.push({ target: e.target, message: e.error.message });
    });
    await db.start();
    await db.probeNow();
    const [r1] = db.status();
    assert.equal(
      r1?.eligible,
      false,
      `r1 replicates ${MARIADB_STEADY_PRIMARY_PORT}, not the primary ${MARIADB_OTHER_PRIMARY_PORT}, yet it is eligible (${r1?.reason}, lag ${r1?.lag} ms from ${r1?.source})`,
    );
    assert.equal(r1?.source, 'other-cluster', `r1's lag source: ${r1?.source}`);
    const [rows] = (await db.query('SELECT @@port AS port')) as [RowDataPacket[], unknown];
    const port = Number(rows[0]?.port);
    assert.equal(port, MARIADB_OTHER_PRIMARY_PORT, `a read went to ${port}, a server of another cluster`);
    assert.match(
      probes.find((p) => p.target === 'r1')?.message ?? '',
      /r1 replicates another cluster \(its heartbeat table's cluster token \d+; the primary's is \d+\)/,
      `the probe's error for r1: ${JSON.stringify(probes)}`,
    );
  });
});

// The other cluster runs no router: its replica has no heartbeat table, and SHOW SLAVE STATUS there
// says Seconds_Behind_Master 0 (of its own primary).
describe('MariaDB: a replica of another cluster that has no heartbeat table', { timeout: 120_000 }, () => {
  const LONE = 'test.replicas_other_cluster_lone';
  const MAX_LAG = 500;
  let primaryPool: MysqlPool;
  let replicaPool: MysqlPool;
  let db: ReplicaRouter<MysqlResult>;

  before(async () => {
    await ensureSteadyMariadbReplication();
    primaryPool = mariadbPool(MARIADB_OTHER_PRIMARY_PORT);
    replicaPool = mariadbPool(MARIADB_STEADY_REPLICA_PORT);
  });

  after(async () => {
    await db?.close();
    await primaryPool?.query(`DROP TABLE IF EXISTS ${LONE}`).catch(() => {});
    await Promise.all([primaryPool, replicaPool].map((p) => p?.end()));
  });

  it('is excluded once it has lacked the primary’s cluster token for longer than maxLag', async () => {
    db = createMysqlRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'other-cluster-lone',
      heartbeatTable: LONE,
      maxLag: MAX_LAG,
    });
    db.on('error', () => {});
    await db.start();
    const seen: string[] = [];
    await until(
      async () => {
        await db.probeNow();
        const r1 = db.status()[0];
        seen.push(`${r1?.eligible}/${r1?.reason}/${r1?.lag}/${r1?.source}`);
        return r1?.eligible === false;
      },
      10_000,
      'r1, lacking the cluster token (a replica of another cluster), excluded',
    ).catch((error: Error) => {
      throw new Error(`${error.message}; rounds (eligible/reason/lag/source): ${seen.slice(-5).join(', ')}`);
    });
    const [rows] = (await db.query('SELECT @@port AS port')) as [RowDataPacket[], unknown];
    assert.equal(Number(rows[0]?.port), MARIADB_OTHER_PRIMARY_PORT, 'the read went to the primary');
    assert.equal(db.status()[0]?.reason, 'LagAboveMax', `r1's reason: ${db.status()[0]?.reason}`);
  });
});

// The primary refuses the cluster token's read at start (the router's user not yet granted INSERT on
// the heartbeat table, say): once it takes it, the replica of another cluster must be found out.
describe('MariaDB: the cluster token refused at start', { timeout: 120_000 }, () => {
  const LATE = 'test.replicas_other_cluster_late';
  const USER = 'sp_token_late';
  let admin: MysqlPool;
  let primaryPool: MysqlPool;
  let replicaPool: MysqlPool;
  let itsPrimary: MysqlPool;
  let db: ReplicaRouter<MysqlResult>;
  const errors: ReplicaError[] = [];

  before(async () => {
    await ensureSteadyMariadbReplication();
    admin = mariadbPool(MARIADB_OTHER_PRIMARY_PORT);
    replicaPool = mariadbPool(MARIADB_STEADY_REPLICA_PORT);
    itsPrimary = mariadbPool(MARIADB_STEADY_PRIMARY_PORT);
    // The other cluster's heartbeat table, with its own token, replicated to the steady replica.
    await itsPrimary.query(`DROP TABLE IF EXISTS ${LATE}`);
    await itsPrimary.query(
      `CREATE TABLE ${LATE} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, ts DECIMAL(20,6) NOT NULL) ENGINE=InnoDB`,
    );
    await itsPrimary.query(`INSERT INTO ${LATE} (server_id, ts) VALUES (0, 424242)`);
    await until(
      async () => {
        const [rows] = await replicaPool
          .query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${LATE} WHERE server_id = 0`)
          .catch(() => [[]] as unknown as [RowDataPacket[]]);
        return Number(rows[0]?.n) === 1;
      },
      20_000,
      'the other cluster’s token on the steady replica',
    );
    await admin.query(`DROP TABLE IF EXISTS ${LATE}`);
    await admin.query(
      `CREATE TABLE ${LATE} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, ts DECIMAL(20,6) NOT NULL) ENGINE=InnoDB`,
    );
    await admin.query(`DROP USER IF EXISTS '${USER}'@'127.0.0.1'`);
    await admin.query(`CREATE USER '${USER}'@'127.0.0.1'`);
    await admin.query(`GRANT SELECT, CREATE ON test.* TO '${USER}'@'127.0.0.1'`);
    primaryPool = mysql.createPool({
      host: '127.0.0.1',
      port: MARIADB_OTHER_PRIMARY_PORT,
      user: USER,
      database: 'test',
      connectionLimit: 4,
    });
  });

  after(async () => {
    await db?.close();
    await admin?.query(`DROP USER IF EXISTS '${USER}'@'127.0.0.1'`).catch(() => {});
    await admin?.query(`DROP TABLE IF EXISTS ${LATE}`).catch(() => {});
    await itsPrimary?.query(`DROP TABLE IF EXISTS ${LATE}`).catch(() => {});
    await Promise.all([admin, primaryPool, replicaPool, itsPrimary].map((p) => p?.end()));
  });

  it('reads the token once the primary takes it, and then excludes the replica', async () => {
    db = createMysqlRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'other-cluster-late',
      heartbeatTable: LATE,
    });
    db.on('error', (error) => errors.push(error));
    await db.start();
    assert.ok(
      errors.some((e) => /INSERT command denied/i.test(e.message)),
      `the refused token read is reported: ${errors.map((e) => e.message).join('; ')}`,
    );

    await admin.query(`GRANT INSERT, DELETE ON ${LATE} TO '${USER}'@'127.0.0.1'`);
    const rounds: string[] = [];
    for (let round = 0; round < 3; round++) {
      await db.probeNow();
      const r1 = db.status()[0];
      rounds.push(`${r1?.source}/${r1?.eligible}`);
    }
    assert.equal(
      rounds.at(-1),
      'other-cluster/false',
      `r1 replicates ${MARIADB_STEADY_PRIMARY_PORT}, not ${MARIADB_OTHER_PRIMARY_PORT}; three rounds after the primary takes the token, r1 (source/eligible): ${rounds.join(', ')}`,
    );
    const denied = errors.filter((e) => /command denied/i.test(e.message));
    assert.equal(
      denied.length,
      2,
      `the token read and the heartbeat refused, each reported once: ${errors.map((e) => e.message).join('; ')}`,
    );
  });
});
