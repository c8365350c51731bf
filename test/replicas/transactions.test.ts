// db.transaction(fn) on the steady pairs (PostgreSQL 5443, MariaDB 3343): what a statement issued
// after the transaction ended does. Pools of 2 so the next transaction takes the connection
// the ended one gave back, as a busy application's would.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import {
  createMysqlRouter,
  createPgRouter,
  type Queryable,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

interface Case<R> {
  name: string;
  setup(): Promise<{ db: ReplicaRouter<R>; values(): Promise<string[]>; end(): Promise<void> }>;
  insert: string;
}

const TABLE = 'replicas_tx_ended';

const postgres: Case<pg.QueryResult> = {
  name: 'PostgreSQL',
  insert: `INSERT INTO ${TABLE} (v) VALUES ($1)`,
  async setup() {
    await ensureSteadyPostgresReplication();
    const pool = (port: number) =>
      new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 2 });
    const primary = pool(PG_STEADY_PRIMARY_PORT);
    const replica = pool(PG_STEADY_REPLICA_PORT);
    await primary.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await primary.query(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, v text NOT NULL)`);
    const db = createPgRouter({ primary, replicas: { r1: replica }, name: 'tx-ended-pg' });
    db.on('error', () => {});
    await db.start();
    return {
      db,
      values: async () => (await primary.query(`SELECT v FROM ${TABLE} ORDER BY id`)).rows.map((r) => r.v),
      end: async () => {
        await db.close();
        await Promise.all([primary.end(), replica.end()]);
      },
    };
  },
};

const mariadb: Case<unknown> = {
  name: 'MariaDB',
  insert: `INSERT INTO ${TABLE} (v) VALUES (?)`,
  async setup() {
    await ensureSteadyMariadbReplication();
    const pool = (port: number) =>
      mysql.createPool({
        host: '127.0.0.1',
        port,
        user: 'scaleplane',
        password: 'scaleplane',
        database: 'scaleplane_test',
        connectionLimit: 2,
      });
    const primary = pool(MARIADB_STEADY_PRIMARY_PORT);
    const replica = pool(MARIADB_STEADY_REPLICA_PORT);
    await primary.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await primary.query(
      `CREATE TABLE ${TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(16) NOT NULL) ENGINE=InnoDB`,
    );
    const db = createMysqlRouter({ primary, replicas: { r1: replica }, name: 'tx-ended-mariadb' });
    db.on('error', () => {});
    await db.start();
    return {
      db: db as ReplicaRouter<unknown>,
      values: async () => {
        const [rows] = await primary.query<RowDataPacket[]>(`SELECT v FROM ${TABLE} ORDER BY id`);
        return rows.map((r) => String(r.v));
      },
      end: async () => {
        await db.close();
        await Promise.all([primary.end(), replica.end()]);
      },
    };
  },
};

for (const c of [postgres, mariadb] as Array<Case<unknown>>) {
  describe(`${c.name}: a statement issued after db.transaction(fn) ended`, { timeout: 120_000 }, () => {
    let env: Awaited<ReturnType<Case<unknown>['setup']>>;

    before(async () => {
      env = await c.setup();
    });

    after(async () => {
      await env?.end();
    });

    it("runs outside it, never inside the next caller's transaction; the ended tx refuses it", async () => {
      const { db } = env;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let late!: Promise<unknown>;
      let ended!: Queryable<unknown>;
      // Work started inside the transaction (not awaited) issues its statement once the transaction is over.
      await db.transaction(async (tx) => {
        ended = tx;
        late = gate.then(() => db.query(c.insert, ['late']));
        await tx.query(c.insert, ['a']);
      });
      // The next caller's transaction takes the connection A gave back, and rolls back.
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query(c.insert, ['b']);
          release();
          await late;
          throw new Error('b rolls back');
        }),
        /b rolls back/,
      );
      // Before: the late INSERT ran on that connection, inside B, and was rolled back with it: ['a'].
      assert.deepEqual(await env.values(), ['a', 'late']);
      await assert.rejects(ended.query('SELECT 1'), { code: 'REPLICA_TRANSACTION_ENDED' });
    });
  });
}
