// MariaDB: the first probe round writes a heartbeat on the primary and reads the replica's at once.
// A replica a moment behind (the heartbeat in flight, a DDL ahead of it) still shows the heartbeat of
// whichever router last ran, as old as the heartbeat table had been idle, and was kept from reads for
// holdTime from the start. Here the replica applies events 1 s late (MASTER_DELAY), on a pair of its own
// (3345/3346), which the second case also fills to max_connections.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { createMysqlRouter, type ReplicaRouter } from '../../src/replicas/index.js';
import type { MysqlResult } from '../../src/replicas/mysql/index.js';
import { until } from '../helpers/until.js';
import {
  ensureDelayedMariadbReplication,
  MARIADB_DELAYED_PRIMARY_PORT,
  MARIADB_DELAYED_REPLICA_PORT,
} from './services.js';

// The replica shows this round's heartbeat ~1 s old (MASTER_DELAY); 4 s leaves 3 s for a loaded machine.
const MAX_LAG = 4000;
const TABLE = 'replicas_first_round_hb';

function pool(port: number, user = 'scaleplane'): Pool {
  return mysql.createPool({
    host: '127.0.0.1',
    port,
    user,
    password: 'scaleplane',
    database: 'scaleplane_test',
    connectionLimit: 4,
  });
}

describe('MariaDB: the first probe round, a replica a moment behind', { timeout: 120_000 }, () => {
  let primaryPool: Pool;
  let replicaPool: Pool;
  let replicaAdmin: Pool;
  let db: ReplicaRouter<MysqlResult>;

  before(async () => {
    await ensureDelayedMariadbReplication();
    primaryPool = pool(MARIADB_DELAYED_PRIMARY_PORT);
    replicaPool = pool(MARIADB_DELAYED_REPLICA_PORT);
    replicaAdmin = pool(MARIADB_DELAYED_REPLICA_PORT, 'scaleplane_admin');
    await replicaAdmin.query('STOP SLAVE');
    await replicaAdmin.query('CHANGE MASTER TO MASTER_DELAY = 1');
    await replicaAdmin.query('START SLAVE');
  });

  after(async () => {
    await db?.close();
    await replicaAdmin?.query('STOP SLAVE').catch(() => {});
    await replicaAdmin?.query('CHANGE MASTER TO MASTER_DELAY = 0').catch(() => {});
    await replicaAdmin?.query('START SLAVE').catch(() => {});
    await Promise.all([primaryPool, replicaPool, replicaAdmin].map((p) => p?.end()));
  });

  it('is admitted at once when this round’s heartbeat reaches it within the round', async () => {
    // A heartbeat row on the replica older than maxLag: an earlier router's, then nobody wrote.
    await primaryPool.query(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, ts DECIMAL(20,6) NOT NULL) ENGINE=InnoDB`,
    );
    await primaryPool.query(
      `REPLACE INTO ${TABLE} (server_id, ts) VALUES (@@server_id, UNIX_TIMESTAMP(NOW(6)))`,
    );
    const [[primaryId]] = await primaryPool.query<RowDataPacket[]>('SELECT @@server_id AS id');
    await until(
      async () => {
        const [rows] = await replicaPool
          .query<RowDataPacket[]>(
            `SELECT (UNIX_TIMESTAMP(NOW(6)) - ts) * 1000e0 AS age FROM ${TABLE} WHERE server_id = ?`,
            [primaryId?.id],
          )
          .catch(() => [[]] as unknown as [RowDataPacket[]]);
        return rows.length > 0 && Number(rows[0]?.age) > MAX_LAG + 200;
      },
      30_000,
      'the replica holding a heartbeat older than maxLag',
    );
    db = createMysqlRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'first-round-mariadb',
      heartbeatTable: TABLE,
      maxLag: MAX_LAG,
      probeTimeout: 8000, // the first round waits up to half of it for its heartbeat
      probeInterval: 60_000,
      staleAfter: 120_000,
    });
    db.on('error', () => {});
    await db.start();
    const r1 = db.status()[0];
    assert.equal(
      r1?.eligible,
      true,
      `r1, 1 s behind, not admitted by the first round: ${r1?.reason}, lag ${r1?.lag} ms from ${r1?.source}`,
    );
  });
});

// The same pair, its primary out of connection slots (1040 "Too many connections"): it is up and
// commits other clients' writes, so the heartbeat's age, which no round can renew meanwhile, counts.
describe('MariaDB primary out of connection slots', { timeout: 120_000 }, () => {
  const LAG = 1000;
  let primaryPool: Pool;
  let replicaPool: Pool;
  let admin: mysql.Connection;
  const fillers: mysql.Connection[] = [];
  let db: ReplicaRouter<MysqlResult>;

  before(async () => {
    await ensureDelayedMariadbReplication();
    primaryPool = pool(MARIADB_DELAYED_PRIMARY_PORT);
    replicaPool = pool(MARIADB_DELAYED_REPLICA_PORT);
    admin = await mysql.createConnection({
      host: '127.0.0.1',
      port: MARIADB_DELAYED_PRIMARY_PORT,
      user: 'scaleplane_admin',
      password: 'scaleplane',
    });
  });

  after(async () => {
    await Promise.all(fillers.map((c) => c.end().catch(() => {})));
    await db?.close();
    await admin?.end().catch(() => {});
    await Promise.all([primaryPool, replicaPool].map((p) => p?.end()));
  });

  it('a replica is excluded once its heartbeat is older than maxLag', async () => {
    db = createMysqlRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'primary-full-mariadb',
      heartbeatTable: TABLE,
      maxLag: LAG,
      probeInterval: 60_000,
      staleAfter: 120_000,
    });
    db.on('error', () => {});
    await db.start();
    await until(
      async () => {
        await db.probeNow();
        return db.status()[0]?.eligible === true;
      },
      20_000,
      'r1 eligible',
    );
    // Every other 'scaleplane' client goes (the router's probe connection among them), then the test
    // takes every slot left: the probe's reconnect is refused with 1040.
    const [threads] = await admin.query<RowDataPacket[]>(
      "SELECT id FROM information_schema.processlist WHERE user = 'scaleplane'",
    );
    for (const thread of threads) await admin.query(`KILL CONNECTION ${Number(thread.id)}`).catch(() => {});
    for (;;) {
      try {
        const connection = await mysql.createConnection({
          host: '127.0.0.1',
          port: MARIADB_DELAYED_PRIMARY_PORT,
          user: 'scaleplane',
          password: 'scaleplane',
        });
        connection.on('error', () => {});
        fillers.push(connection);
      } catch (error) {
        assert.equal((error as { errno?: number }).errno, 1040, `connecting failed: ${error}`);
        break;
      }
      assert.ok(fillers.length < 1000, 'the primary never ran out of connection slots');
    }
    const seen: string[] = [];
    await until(
      async () => {
        await db.probeNow();
        const r1 = db.status()[0];
        seen.push(`${r1?.eligible}/${r1?.reason}/${r1?.lag === null ? null : Math.round(r1?.lag ?? 0)}`);
        return r1?.eligible === false;
      },
      15_000,
      'r1, its heartbeat past maxLag while the primary is full, excluded',
    ).catch((error: Error) => {
      throw new Error(`${error.message}; rounds (eligible/reason/lag): ${seen.slice(-4).join(', ')}`);
    });
    assert.equal(db.status()[0]?.reason, 'LagAboveMax', `r1's reason: ${db.status()[0]?.reason}`);
  });
});
