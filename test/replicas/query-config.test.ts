// A query config object (node-postgres `{ text, values, rowMode, name }`, mysql2 `{ sql, values,
// rowsAsArray }`) is routed by its SQL like SQL text, against the steady PostgreSQL pair (5443/5444)
// and MariaDB pair (3343/3344). Before, the router read such an object as empty SQL: every one ran
// on the primary, reads included.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type Pool } from 'mysql2/promise';
import pg from 'pg';
import {
  createMysqlRouter,
  createPgRouter,
  type MysqlResult,
  type ReplicaError,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

describe('PostgreSQL: query config objects', { timeout: 120_000 }, () => {
  let primary: pg.Pool;
  let replica: pg.Pool;
  let db: ReplicaRouter<PgResult>;

  before(async () => {
    await ensureSteadyPostgresReplication();
    const pool = (port: number) =>
      new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    primary = pool(PG_STEADY_PRIMARY_PORT);
    replica = pool(PG_STEADY_REPLICA_PORT);
    db = createPgRouter({ primary, replicas: { r1: replica }, name: 'query-config-pg' });
    db.on('error', () => {});
    await db.start();
    assert.equal(db.status()[0]?.eligible, true);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primary?.end(), replica?.end()]);
  });

  it('a read runs on the replica with its options kept (values, rowMode)', async () => {
    const result = await db.query({
      text: 'SELECT inet_server_port() AS port, $1::int AS x',
      values: [7],
      rowMode: 'array',
    });
    assert.deepEqual(result.rows, [[PG_STEADY_REPLICA_PORT, 7]]);
  });

  it('a named prepared statement runs on the replica, again and again', async () => {
    for (const x of [1, 2, 3]) {
      const result = await db.query({
        name: 'query-config-port',
        text: 'SELECT inet_server_port() AS port, $1::int AS x',
        values: [x],
      });
      assert.deepEqual(result.rows, [{ port: PG_STEADY_REPLICA_PORT, x }]);
    }
  });

  it('what is no read goes to the primary', async () => {
    const result = await db.query({ text: 'SELECT pg_advisory_xact_lock(4711), inet_server_port() AS port' });
    assert.equal(result.rows[0]?.port, PG_STEADY_PRIMARY_PORT);
    assert.deepEqual(db.classify({ text: 'SELECT nextval($1)' }), {
      readOnly: false,
      reason: 'SideEffectFunction',
    });
  });

  it('inside a transaction it runs on the transaction connection', async () => {
    const port = await db.transaction(async () => {
      const result = await db.query({ text: 'SELECT inet_server_port() AS port', rowMode: 'array' });
      return result.rows[0]?.[0];
    });
    assert.equal(port, PG_STEADY_PRIMARY_PORT);
  });

  it('an object without its SQL in text is refused, naming the key', async () => {
    await assert.rejects(
      db.query({ sql: 'SELECT 1' }),
      (error: ReplicaError) =>
        error.code === 'REPLICA_INVALID_ARGUMENT' &&
        /SQL in "text" \(as node-postgres reads it\), got undefined/.test(error.message),
    );
    await assert.rejects(
      db.read(undefined as unknown as string),
      (error: ReplicaError) =>
        error.code === 'REPLICA_INVALID_ARGUMENT' && /got undefined/.test(error.message),
    );
  });

  it('BEGIN in a config object is refused outside db.transaction, as in SQL text', async () => {
    await assert.rejects(
      db.query({ text: 'BEGIN' }),
      (error: ReplicaError) =>
        error.code === 'REPLICA_INVALID_ARGUMENT' && /db\.transaction/.test(error.message),
    );
  });
});

describe('MariaDB: query options objects', { timeout: 120_000 }, () => {
  let primary: Pool;
  let replica: Pool;
  let db: ReplicaRouter<MysqlResult>;

  before(async () => {
    await ensureSteadyMariadbReplication();
    const pool = (port: number) =>
      mysql.createPool({ host: '127.0.0.1', port, user: 'root', database: 'test' });
    primary = pool(MARIADB_STEADY_PRIMARY_PORT);
    replica = pool(MARIADB_STEADY_REPLICA_PORT);
    db = createMysqlRouter({ primary, replicas: { r1: replica }, name: 'query-config-mysql' });
    db.on('error', () => {});
    await db.start();
    assert.equal(db.status()[0]?.eligible, true);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primary?.end(), replica?.end()]);
  });

  it('a read runs on the replica with its options kept (values, rowsAsArray)', async () => {
    const [rows] = await db.query({ sql: 'SELECT @@port AS port, ? AS x', values: [7], rowsAsArray: true });
    assert.deepEqual(rows, [[MARIADB_STEADY_REPLICA_PORT, 7]]);
  });

  it('what is no read goes to the primary', async () => {
    const [rows] = await db.query({ sql: 'SELECT @@port AS port, LAST_INSERT_ID() AS id' });
    assert.equal((rows as Array<{ port: number }>)[0]?.port, MARIADB_STEADY_PRIMARY_PORT);
  });

  it('an object without its SQL in sql is refused, naming the key', async () => {
    await assert.rejects(
      db.query({ text: 'SELECT 1' }),
      (error: ReplicaError) =>
        error.code === 'REPLICA_INVALID_ARGUMENT' &&
        /SQL in "sql" \(as mysql2 reads it\)/.test(error.message),
    );
  });
});
