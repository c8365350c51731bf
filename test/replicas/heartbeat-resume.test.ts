// The MariaDB/MySQL heartbeat is the lag measure that holds when SHOW REPLICA STATUS does not
// (Seconds_Behind_Master reads 0 while the IO thread is behind). A heartbeat write the primary refuses
// for a while (a privilege revoked and granted again, the primary read-only for a switchover) leaves
// that round to SHOW REPLICA STATUS; the heartbeat must come back once the primary takes it again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type Pool } from 'mysql2/promise';
import { createMysqlRouter, type ReplicaError, type ReplicaRouter } from '../../src/replicas/index.js';
import type { MysqlResult } from '../../src/replicas/mysql/index.js';
import { until } from '../helpers/until.js';
import {
  ensureSteadyMariadbReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
} from './services.js';

const USER = 'sp_hb_resume';
const TABLE = 'replicas_hb_resume';

function pool(port: number, user: string, password: string): Pool {
  return mysql.createPool({
    host: '127.0.0.1',
    port,
    user,
    password,
    database: 'scaleplane_test',
    connectionLimit: 4,
  });
}

/**
 * startOnHeartbeat starts a router over the two pools with heartbeat table `table`, its errors
 * collected in `errors`, and resolves once r1's lag is measured by the heartbeat.
 */
async function startOnHeartbeat(
  primary: Pool,
  replica: Pool,
  name: string,
  table: string,
  errors: ReplicaError[],
): Promise<ReplicaRouter<MysqlResult>> {
  const db = createMysqlRouter({ primary, replicas: { r1: replica }, name, heartbeatTable: table });
  db.on('error', (error) => errors.push(error));
  await db.start();
  await until(
    async () => {
      await db.probeNow();
      return db.status()[0]?.source === 'heartbeat';
    },
    20_000,
    'lag measured by the heartbeat',
  );
  return db;
}

describe('MariaDB heartbeat refused for a while', { timeout: 120_000 }, () => {
  let admin: Pool;
  let primaryPool: Pool;
  let replicaPool: Pool;
  let db: ReplicaRouter<MysqlResult>;
  const errors: ReplicaError[] = [];

  before(async () => {
    await ensureSteadyMariadbReplication();
    admin = pool(MARIADB_STEADY_PRIMARY_PORT, 'scaleplane_admin', 'scaleplane');
    await admin.query(`DROP USER IF EXISTS '${USER}'@'127.0.0.1'`);
    await admin.query(`CREATE USER '${USER}'@'127.0.0.1' IDENTIFIED BY 'hb'`);
    await admin.query(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, ts DECIMAL(20,6) NOT NULL) ENGINE=InnoDB`,
    );
    await admin.query(`GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '${USER}'@'127.0.0.1'`);
    await admin.query(`GRANT SELECT, CREATE ON scaleplane_test.* TO '${USER}'@'127.0.0.1'`);
    // Table-level, so that a REVOKE binds connections already open at their next statement.
    await admin.query(`GRANT INSERT, DELETE ON scaleplane_test.${TABLE} TO '${USER}'@'127.0.0.1'`);
    const replicaAdmin = pool(MARIADB_STEADY_REPLICA_PORT, 'scaleplane_admin', 'scaleplane');
    try {
      await until(
        async () => {
          const [rows] = await replicaAdmin.query<mysql.RowDataPacket[]>(
            `SELECT COUNT(*) AS n FROM mysql.tables_priv WHERE User = '${USER}' AND Table_name = '${TABLE}'`,
          );
          return Number(rows[0]?.n) === 1;
        },
        20_000,
        'the user and its grants on the replica',
      );
    } finally {
      await replicaAdmin.end();
    }
    primaryPool = pool(MARIADB_STEADY_PRIMARY_PORT, USER, 'hb');
    replicaPool = pool(MARIADB_STEADY_REPLICA_PORT, USER, 'hb');
  });

  after(async () => {
    await db?.close();
    await Promise.all([primaryPool, replicaPool].map((p) => p?.end()));
    await admin?.query(`DROP USER IF EXISTS '${USER}'@'127.0.0.1'`).catch(() => {});
    await admin?.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => {});
    await admin?.end();
  });

  it('lag is measured by the heartbeat again once the primary takes it again', async () => {
    db = await startOnHeartbeat(primaryPool, replicaPool, 'hb-resume', TABLE, errors);

    await admin.query(`REVOKE INSERT ON scaleplane_test.${TABLE} FROM '${USER}'@'127.0.0.1'`);
    await db.probeNow();
    assert.equal(
      db.status()[0]?.source,
      'replica-status',
      'a round whose heartbeat the primary refused measures by SHOW REPLICA STATUS',
    );
    assert.ok(
      errors.some((e) => /INSERT command denied/i.test(e.message)),
      `the refusal is reported: ${errors.map((e) => e.message).join('; ')}`,
    );

    await admin.query(`GRANT INSERT ON scaleplane_test.${TABLE} TO '${USER}'@'127.0.0.1'`);
    const sources: string[] = [];
    for (let round = 0; round < 3; round++) {
      await db.probeNow();
      sources.push(db.status()[0]?.source ?? 'none');
    }
    assert.equal(
      sources.at(-1),
      'heartbeat',
      `three rounds after the primary takes the heartbeat again, lag is still measured by ${sources.join(', ')}`,
    );
  });
});

// The heartbeat table dropped on the primary while the router runs (a cleanup script, a schema reset):
// the drop replicates, and the router must create the table again as at start.
describe('MariaDB heartbeat table dropped while the router runs', { timeout: 120_000 }, () => {
  const DROPPED = 'replicas_hb_dropped';
  let admin: Pool;
  let primaryPool: Pool;
  let replicaPool: Pool;
  let db: ReplicaRouter<MysqlResult>;
  const errors: ReplicaError[] = [];

  before(async () => {
    await ensureSteadyMariadbReplication();
    admin = pool(MARIADB_STEADY_PRIMARY_PORT, 'scaleplane_admin', 'scaleplane');
    await admin.query(`DROP TABLE IF EXISTS ${DROPPED}`);
    primaryPool = pool(MARIADB_STEADY_PRIMARY_PORT, 'scaleplane_admin', 'scaleplane');
    replicaPool = pool(MARIADB_STEADY_REPLICA_PORT, 'scaleplane_admin', 'scaleplane');
  });

  after(async () => {
    await db?.close();
    await Promise.all([primaryPool, replicaPool].map((p) => p?.end()));
    await admin?.query(`DROP TABLE IF EXISTS ${DROPPED}`).catch(() => {});
    await admin?.end();
  });

  it('creates the table again and measures by the heartbeat again', async () => {
    db = await startOnHeartbeat(primaryPool, replicaPool, 'hb-dropped', DROPPED, errors);

    await admin.query(`DROP TABLE ${DROPPED}`);
    const sources: string[] = [];
    for (let round = 0; round < 4; round++) {
      await db.probeNow();
      const r1 = db.status()[0];
      sources.push(`${r1?.source}/${r1?.eligible}`);
    }
    assert.equal(
      sources.at(-1),
      'heartbeat/true',
      `four rounds after the heartbeat table was dropped, r1 is measured (source/eligible): ${sources.join(', ')}`,
    );
    const [rows] = await admin.query<mysql.RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${DROPPED} WHERE server_id = 0`,
    );
    assert.equal(Number(rows[0]?.n), 1, 'the recreated table holds a cluster token');
    const missing = errors.filter((e) => /doesn't exist/i.test(e.message));
    assert.equal(
      missing.length,
      1,
      `the missing table is reported once: ${errors.map((e) => e.message).join('; ')}`,
    );
  });
});
