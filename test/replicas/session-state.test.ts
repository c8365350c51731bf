// Session state (SET, USE, LOCK TABLES …) never outlives the caller that set it on a pooled
// connection, against the steady PostgreSQL pair (5443/5444) and MariaDB pair (3343/3344). Before, a
// db.transaction(fn) that ran SET ROLE / SET search_path (PostgreSQL) or SET SESSION sql_mode and
// isolation (MariaDB) gave its connection back to the pool so, and every later statement of every
// caller that took it ran as that role, in that schema, in that mode; and `db.query('SET …')` was
// sent to whichever primary connection was free and stayed there.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { createMysqlRouter, createPgRouter, ReplicaError } from '../../src/replicas/index.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

/** refusedUnsent: `db.query` refused the statement before sending it, naming db.transaction(fn). */
function refusedUnsent(error: unknown): boolean {
  return (
    error instanceof ReplicaError &&
    error.code === 'REPLICA_INVALID_ARGUMENT' &&
    error.message.includes('db.transaction(fn)')
  );
}

describe('session state on pooled connections', { timeout: 120_000 }, () => {
  it('PostgreSQL: a transaction that SETs its role and search_path leaves neither to the next caller', async (t) => {
    await ensureSteadyPostgresReplication();
    // One connection each: whoever comes next takes the very connection the transaction used.
    const pool = (port: number) =>
      new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 });
    const [primary, replica] = [pool(PG_STEADY_PRIMARY_PORT), pool(PG_STEADY_REPLICA_PORT)];
    const db = createPgRouter({ primary, replicas: { r1: replica }, name: 'session-state-pg' });
    db.on('error', () => {});
    const session = "SELECT current_user AS who, current_setting('search_path') AS path";
    try {
      await db.start();
      const before = (await db.write(session)).rows[0];
      await db.transaction(async (tx) => {
        await tx.query('SET search_path TO sp_replicas_tenant_42, public');
        await tx.query('SET ROLE pg_read_all_stats');
        const inside = (await tx.query(session)).rows[0];
        assert.equal(
          inside?.who,
          'pg_read_all_stats',
          `the SET holds inside the transaction: ${inside?.who}`,
        );
      });
      const after = (await db.write(session)).rows[0];
      // Read-only transactions run on the replica: the same goes for its pool.
      const replicaBefore = (await db.read(session)).rows[0];
      await db.transaction(async (tx) => void (await tx.query('SET search_path TO sp_replicas_tenant_42')), {
        readOnly: true,
      });
      const replicaAfter = (await db.read(session)).rows[0];
      // SET LOCAL ends with its transaction: that connection goes back to the pool and is used again.
      const pid = async () => Number((await db.write('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
      const pidBefore = await pid();
      await db.transaction(async (tx) => void (await tx.query('SET LOCAL statement_timeout = 1000')));
      const pidAfter = await pid();
      const plain = await db.query('SET statement_timeout = 1').then(
        () => 'sent',
        (error: unknown) => (refusedUnsent(error) ? 'refused' : String(error)),
      );
      t.diagnostic(
        `primary before ${JSON.stringify(before)}, after ${JSON.stringify(after)}; replica before ${JSON.stringify(replicaBefore)}, after ${JSON.stringify(replicaAfter)}; SET via db.query: ${plain}`,
      );
      assert.deepEqual(
        after,
        before,
        'the primary connection after the transaction has the session it had before',
      );
      assert.deepEqual(replicaAfter, replicaBefore, 'the replica connection after the read-only one too');
      assert.equal(pidAfter, pidBefore, 'a transaction that only SET LOCAL keeps its pooled connection');
      assert.equal(plain, 'refused', `SET through db.query is refused unsent: ${plain}`);
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });

  it('PostgreSQL: a temporary table made in a transaction is not there for the next caller', async (t) => {
    await ensureSteadyPostgresReplication();
    const pool = (port: number) =>
      new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 });
    const [primary, replica] = [pool(PG_STEADY_PRIMARY_PORT), pool(PG_STEADY_REPLICA_PORT)];
    const db = createPgRouter({ primary, replicas: { r1: replica }, name: 'session-state-pg-temp' });
    db.on('error', () => {});
    // Each request stages its rows in a temporary table of the same name, as an import job does.
    const request = (ddl: string) =>
      db
        .transaction(async (tx) => {
          await tx.query(ddl);
          await tx.query('INSERT INTO sp_replicas_staging VALUES (1)');
        })
        .then(
          () => 'ok',
          (error: { message?: string }) => String(error.message),
        );
    const pid = async () => Number((await db.write('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
    try {
      await db.start();
      const kept = 'CREATE TEMP TABLE sp_replicas_staging (id int)';
      const outcomes = [await request(kept), await request(kept)];
      const dropped = 'CREATE TEMP TABLE sp_replicas_staging (id int) ON COMMIT DROP';
      const pidBefore = await pid();
      const onCommitDrop = [await request(dropped), await request(dropped)];
      const pidAfter = await pid();
      const plain = await db.query(kept).then(
        () => 'sent',
        (error: unknown) => (refusedUnsent(error) ? 'refused' : String(error)),
      );
      t.diagnostic(
        `two requests: ${outcomes.join(' / ')}; ON COMMIT DROP: ${onCommitDrop.join(' / ')}; via db.query: ${plain}`,
      );
      assert.deepEqual(outcomes, ['ok', 'ok'], 'the second request makes its own temporary table');
      assert.deepEqual(onCommitDrop, ['ok', 'ok'], 'ON COMMIT DROP: both requests run');
      assert.equal(pidAfter, pidBefore, 'a table dropped at COMMIT keeps the pooled connection');
      assert.equal(plain, 'refused', `CREATE TEMP TABLE through db.query is refused unsent: ${plain}`);
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });

  it('MariaDB: a transaction that SETs sql_mode and the isolation level leaves neither to the next caller', async (t) => {
    await ensureSteadyMariadbReplication();
    const pool = (port: number) =>
      mysql.createPool({
        host: '127.0.0.1',
        port,
        user: 'scaleplane',
        password: 'scaleplane',
        database: 'scaleplane_test',
        connectionLimit: 1,
      });
    const [primary, replica] = [pool(MARIADB_STEADY_PRIMARY_PORT), pool(MARIADB_STEADY_REPLICA_PORT)];
    const db = createMysqlRouter({ primary, replicas: { r1: replica }, name: 'session-state-mariadb' });
    db.on('error', () => {});
    const session = async () => {
      const [rows] = await db.write('SELECT @@SESSION.sql_mode AS mode, @@SESSION.tx_isolation AS isolation');
      return (rows as RowDataPacket[])[0];
    };
    try {
      await db.start();
      const before = await session();
      await db.transaction(async (tx) => {
        await tx.query("SET SESSION sql_mode = ''");
        await tx.query('SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED');
      });
      const after = await session();
      const plain = await db.query('SET NAMES latin1').then(
        () => 'sent',
        (error: unknown) => (refusedUnsent(error) ? 'refused' : String(error)),
      );
      t.diagnostic(
        `before ${JSON.stringify(before)}, after ${JSON.stringify(after)}; SET via db.query: ${plain}`,
      );
      assert.deepEqual(
        after,
        before,
        'the primary connection after the transaction has the session it had before',
      );
      assert.equal(plain, 'refused', `SET through db.query is refused unsent: ${plain}`);
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });
});
