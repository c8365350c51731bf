// db.transaction(fn, { readOnly: true }) on the steady pairs (PostgreSQL 5443/5444, MariaDB
// 3343/3344), the replica behind a proxy that can refuse or freeze it: a read-only snapshot where a
// read would go, begun elsewhere when the replica fails before fn began, never run twice after. And
// what fn throws comes out as thrown (before, it came out as a DatabaseError REPLICA_CONNECTION).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import {
  createMysqlRouter,
  createPgRouter,
  DatabaseError,
  type Queryable,
  type ReplicaDecision,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

const TABLE = 'replicas_read_tx';

interface Engine {
  name: string;
  primaryPort: number;
  replicaPort: number;
  ensure(): Promise<void>;
  /** A router over the primary and a replica pool reached on `replicaPort`, and a way to end both pools. */
  open(replicaPort: number, name: string): { db: ReplicaRouter<unknown>; end(): Promise<void> };
  /** Runs SQL on the primary directly (setup). */
  admin(sql: string): Promise<void>;
  port(tx: Queryable<unknown>): Promise<number>;
  /** The transaction's access mode and isolation, as the server reports them. */
  mode(tx: Queryable<unknown>): Promise<{ readOnly: boolean; isolation: string }>;
  count(tx: Queryable<unknown>): Promise<number>;
  insert: string;
}

const pgRows = (result: unknown) => (result as pg.QueryResult).rows;
const myRows = (result: unknown) => (result as [RowDataPacket[]])[0];

const postgres: Engine = {
  name: 'PostgreSQL',
  primaryPort: PG_STEADY_PRIMARY_PORT,
  replicaPort: PG_STEADY_REPLICA_PORT,
  ensure: ensureSteadyPostgresReplication,
  open(replicaPort, name) {
    const pool = (port: number) =>
      new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    const primary = pool(PG_STEADY_PRIMARY_PORT);
    const replica = pool(replicaPort);
    const db = createPgRouter({
      primary,
      replicas: { r1: replica },
      name,
      probeTimeout: 500,
    }) as ReplicaRouter<unknown>;
    return { db, end: () => Promise.all([primary.end(), replica.end()]).then(() => undefined) };
  },
  async admin(sql) {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: PG_STEADY_PRIMARY_PORT,
      user: 'postgres',
      database: 'postgres',
    });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  },
  port: async (tx) => Number(pgRows(await tx.query('SELECT inet_server_port() AS port'))[0]?.port),
  async mode(tx) {
    const row = pgRows(
      await tx.query(
        "SELECT current_setting('transaction_read_only') AS ro, current_setting('transaction_isolation') AS iso",
      ),
    )[0];
    return { readOnly: row?.ro === 'on', isolation: String(row?.iso) };
  },
  count: async (tx) => Number(pgRows(await tx.query(`SELECT count(*) AS n FROM ${TABLE}`))[0]?.n),
  insert: `INSERT INTO ${TABLE} (v) VALUES ('x')`,
};

const mariadb: Engine = {
  name: 'MariaDB',
  primaryPort: MARIADB_STEADY_PRIMARY_PORT,
  replicaPort: MARIADB_STEADY_REPLICA_PORT,
  ensure: ensureSteadyMariadbReplication,
  open(replicaPort, name) {
    const pool = (port: number) =>
      mysql.createPool({
        host: '127.0.0.1',
        port,
        user: 'scaleplane',
        password: 'scaleplane',
        database: 'scaleplane_test',
      });
    const primary = pool(MARIADB_STEADY_PRIMARY_PORT);
    const replica = pool(replicaPort);
    const db = createMysqlRouter({
      primary,
      replicas: { r1: replica },
      name,
      probeTimeout: 500,
    }) as ReplicaRouter<unknown>;
    return { db, end: () => Promise.all([primary.end(), replica.end()]).then(() => undefined) };
  },
  async admin(sql) {
    const connection = await mysql.createConnection({
      host: '127.0.0.1',
      port: MARIADB_STEADY_PRIMARY_PORT,
      user: 'root',
      database: 'scaleplane_test',
    });
    try {
      await connection.query(sql);
    } finally {
      await connection.end();
    }
  },
  port: async (tx) => Number(myRows(await tx.query('SELECT @@port AS port'))[0]?.port),
  async mode(tx) {
    const row = myRows(await tx.query('SELECT @@tx_read_only AS ro, @@tx_isolation AS iso'))[0];
    // @@tx_read_only is the session's default; the transaction's own mode shows in what it refuses: on
    // a replica the server's read_only answers first (1290), on the primary only READ ONLY does (1792).
    let refused = false;
    try {
      await tx.query(`INSERT INTO ${TABLE} (v) VALUES ('probe')`);
    } catch (error) {
      refused = error instanceof DatabaseError && (error.errno === 1792 || error.errno === 1290);
    }
    return {
      readOnly: refused || Number(row?.ro) === 1,
      isolation: String(row?.iso).replace('-', ' ').toLowerCase(),
    };
  },
  count: async (tx) => Number(myRows(await tx.query(`SELECT count(*) AS n FROM ${TABLE}`))[0]?.n),
  insert: `INSERT INTO ${TABLE} (v) VALUES ('x')`,
};

for (const engine of [postgres, mariadb]) {
  describe(`${engine.name}: read-only transactions`, { timeout: 120_000 }, () => {
    let proxy: Awaited<ReturnType<typeof pausableProxy>>;
    let db: ReplicaRouter<unknown>;
    let end: () => Promise<void>;
    const decisions: ReplicaDecision[] = [];

    before(async () => {
      await engine.ensure();
      await engine.admin(`DROP TABLE IF EXISTS ${TABLE}`);
      await engine.admin(`CREATE TABLE ${TABLE} (v varchar(20) NOT NULL)`);
      proxy = await pausableProxy(engine.replicaPort);
      ({ db, end } = engine.open(proxy.port, `read-tx-${engine.name}`));
      db.on('error', () => {});
      db.on('decision', (decision) => decisions.push(decision));
      await db.start();
      assert.equal(db.status()[0]?.eligible, true, `r1: ${db.status()[0]?.reason}`);
    });

    after(async () => {
      proxy?.resume();
      await db?.close();
      await end?.();
      await proxy?.close();
    });

    it('runs on the replica as one read-only snapshot', async () => {
      const seen = await db.transaction(
        async (tx) => ({ port: await engine.port(tx), mode: await engine.mode(tx) }),
        { readOnly: true },
      );
      assert.equal(seen.port, engine.replicaPort);
      assert.deepEqual(seen.mode, { readOnly: true, isolation: 'repeatable read' });
    });

    it('a write in it is refused by the server and run nowhere else', async () => {
      await assert.rejects(
        db.transaction((tx) => tx.query(engine.insert), { readOnly: true }),
        (error: unknown) =>
          error instanceof DatabaseError && error.code === 'REPLICA_QUERY' && error.target === 'r1',
      );
      assert.equal(await db.transaction((tx) => engine.count(tx)), 0, 'nothing was written on the primary');
    });

    it("in a session, it sees the session's write", async () => {
      await db.session(async () => {
        await db.write(engine.insert);
        assert.equal(await db.transaction((tx) => engine.count(tx), { readOnly: true }), 1);
      });
      await engine.admin(`DELETE FROM ${TABLE}`);
    });

    it('what fn throws comes out as thrown, from both kinds of transaction', async () => {
      class ValidationError extends Error {}
      for (const readOnly of [false, true]) {
        await assert.rejects(
          db.transaction(
            async (tx) => {
              await engine.port(tx);
              throw new ValidationError('total must be positive');
            },
            { readOnly },
          ),
          (error: unknown) => error instanceof ValidationError && error.message === 'total must be positive',
        );
      }
    });

    it('a failed statement is the DatabaseError db.query gives, inside fn too', async () => {
      await db.transaction(async (tx) => {
        await assert.rejects(
          tx.query('SELECT * FROM replicas_no_such_table'),
          (error: unknown) => error instanceof DatabaseError && error.code === 'REPLICA_QUERY',
        );
      });
    });

    it('a replica that refuses the connection: begun on the primary instead', async () => {
      const refusing = await pausableProxy(engine.replicaPort);
      const { db: refused, end: endRefused } = engine.open(refusing.port, `read-tx-refused-${engine.name}`);
      refused.on('error', () => {});
      const retried: ReplicaDecision[] = [];
      refused.on('decision', (decision) => decision.kind === 'ReadRetried' && retried.push(decision));
      try {
        await refused.start();
        assert.equal(refused.status()[0]?.eligible, true);
        // The replica stops listening: the next connection to it is refused before anything is sent.
        await refusing.close();
        const seen = await refused.transaction(
          async (tx) => ({ port: await engine.port(tx), mode: await engine.mode(tx) }),
          { readOnly: true },
        );
        assert.equal(seen.port, engine.primaryPort);
        assert.deepEqual(
          seen.mode,
          { readOnly: true, isolation: 'repeatable read' },
          'read-only on the primary too',
        );
        assert.equal(retried.length, 1, JSON.stringify(retried));
        assert.match(retried[0]!.message, /read-only transaction could not begin on r1/);
      } finally {
        await refused.close();
        await endRefused();
      }
    });

    it('a replica frozen mid-transaction: the statement waiting there fails once the probe finds it gone; nothing is run twice', async () => {
      const ports: number[] = [];
      const outcome = db.transaction(
        async (tx) => {
          ports.push(await engine.port(tx));
          proxy.pause();
          const waiting = engine.port(tx);
          void db.probeNow();
          ports.push(await waiting);
        },
        { readOnly: true },
      );
      await assert.rejects(
        outcome,
        (error: unknown) => error instanceof DatabaseError && error.code === 'REPLICA_CONNECTION',
      );
      assert.deepEqual(ports, [engine.replicaPort], 'fn ran once, its second statement never answered');
      proxy.resume();
    });
  });
}
