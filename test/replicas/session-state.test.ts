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

/** outcome: `sent` when the statement went to the server, `refused` when db.query refused it unsent. */
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'sent',
    (error: unknown) => (refusedUnsent(error) ? 'refused' : String(error)),
  );

// One connection each: whoever comes next takes the very connection the statement or transaction used.
const pgPool = (port: number) =>
  new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 });
const mariadbPool = (port: number) =>
  mysql.createPool({
    host: '127.0.0.1',
    port,
    user: 'scaleplane',
    password: 'scaleplane',
    database: 'scaleplane_test',
    connectionLimit: 1,
  });

describe('session state on pooled connections', { timeout: 120_000 }, () => {
  it('PostgreSQL: a transaction that SETs its role and search_path leaves neither to the next caller', async (t) => {
    await ensureSteadyPostgresReplication();
    const [primary, replica] = [pgPool(PG_STEADY_PRIMARY_PORT), pgPool(PG_STEADY_REPLICA_PORT)];
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
      const plain = await outcome(db.query('SET statement_timeout = 1'));
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
    const [primary, replica] = [pgPool(PG_STEADY_PRIMARY_PORT), pgPool(PG_STEADY_REPLICA_PORT)];
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
      const plain = await outcome(db.query(kept));
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
    const [primary, replica] = [
      mariadbPool(MARIADB_STEADY_PRIMARY_PORT),
      mariadbPool(MARIADB_STEADY_REPLICA_PORT),
    ];
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
      const plain = await outcome(db.query('SET NAMES latin1'));
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

  it('PostgreSQL: set_config(…, false) and session advisory locks stay with their caller', async (t) => {
    // Before, they were a SideEffectFunction: sent through db.query to whichever primary connection
    // was free, the search_path stayed for the next caller, and a lock stayed held by an idle pooled
    // connection, where the caller's own unlock (sent on another one) could not release it.
    await ensureSteadyPostgresReplication();
    const [primary, replica] = [pgPool(PG_STEADY_PRIMARY_PORT), pgPool(PG_STEADY_REPLICA_PORT)];
    const db = createPgRouter({ primary, replicas: { r1: replica }, name: 'session-state-pg-functions' });
    db.on('error', () => {});
    // Whether another connection can take the lock: only if no pooled connection still holds it.
    const lockFree = async (key: number) => {
      const other = new pg.Client({
        host: '127.0.0.1',
        port: PG_STEADY_PRIMARY_PORT,
        user: 'postgres',
        database: 'postgres',
      });
      await other.connect();
      try {
        const free =
          (await other.query('SELECT pg_try_advisory_lock($1) AS free', [key])).rows[0]?.free === true;
        if (free) await other.query('SELECT pg_advisory_unlock($1)', [key]);
        return free;
      } finally {
        await other.end();
      }
    };
    const path = "SELECT current_setting('search_path') AS path";
    try {
      await db.start();
      const before = (await db.write(path)).rows[0]?.path;
      const plainConfig = await outcome(
        db.query("SELECT set_config('search_path', 'sp_replicas_tenant_7', false)"),
      );
      const plainLock = await outcome(db.query('SELECT pg_advisory_lock(471201)'));
      const afterPlain = (await db.write(path)).rows[0]?.path;
      const freeAfterPlain = await lockFree(471201);
      await db.transaction(async (tx) => {
        await tx.query("SELECT set_config('search_path', 'sp_replicas_tenant_7', false)");
        await tx.query('SELECT pg_advisory_lock(471202)');
        assert.equal(await lockFree(471202), false, 'the lock holds inside the transaction');
      });
      const afterTransaction = (await db.write(path)).rows[0]?.path;
      const freeAfterTransaction = await lockFree(471202);
      // set_config(…, true) ends with its transaction: read anywhere, as before.
      const local = await outcome(db.write("SELECT set_config('statement_timeout', '1000', true)"));
      t.diagnostic(
        `db.query: set_config ${plainConfig}, pg_advisory_lock ${plainLock}; search_path before ${before}, after ${afterPlain} / ${afterTransaction}; lock free after db.query ${freeAfterPlain}, after the transaction ${freeAfterTransaction}; set_config(…, true) ${local}`,
      );
      assert.equal(plainConfig, 'refused', 'set_config(…, false) through db.query is refused unsent');
      assert.equal(plainLock, 'refused', 'pg_advisory_lock through db.query is refused unsent');
      assert.equal(afterPlain, before, 'no search_path was left on the pooled connection');
      assert.equal(freeAfterPlain, true, 'no lock was left on the pooled connection');
      assert.equal(afterTransaction, before, 'the transaction left its search_path to nobody');
      assert.equal(freeAfterTransaction, true, "the transaction's connection (and its lock) ended with it");
      assert.equal(local, 'sent', 'set_config(…, true) is sent');
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });

  it('MariaDB: user variables, named locks and temporary tables stay with their caller', async (t) => {
    await ensureSteadyMariadbReplication();
    const [primary, replica] = [
      mariadbPool(MARIADB_STEADY_PRIMARY_PORT),
      mariadbPool(MARIADB_STEADY_REPLICA_PORT),
    ];
    const db = createMysqlRouter({
      primary,
      replicas: { r1: replica },
      name: 'session-state-mariadb-functions',
    });
    db.on('error', () => {});
    const first = async (sql: string) => ((await db.write(sql))[0] as RowDataPacket[])[0];
    // Another connection sees the named lock free only if no pooled connection still holds it.
    const lockFree = async (name: string) => {
      const other = await mysql.createConnection({
        host: '127.0.0.1',
        port: MARIADB_STEADY_PRIMARY_PORT,
        user: 'scaleplane',
        password: 'scaleplane',
      });
      try {
        const [rows] = await other.query('SELECT IS_FREE_LOCK(?) AS free', [name]);
        return Number((rows as RowDataPacket[])[0]?.free) === 1;
      } finally {
        await other.end();
      }
    };
    const request = () =>
      outcome(
        db.transaction(async (tx) => {
          await tx.query('CREATE TEMPORARY TABLE sp_replicas_staging (id int)');
          await tx.query('INSERT INTO sp_replicas_staging VALUES (1)');
        }),
      );
    try {
      // The app user may make temporary tables (a pair set up before scripts/services/mariadb-replica.sh
      // granted it lacks the grant).
      const admin = await mysql.createConnection({
        host: '127.0.0.1',
        port: MARIADB_STEADY_PRIMARY_PORT,
        user: 'scaleplane_admin',
        password: 'scaleplane',
      });
      await admin.query("GRANT CREATE TEMPORARY TABLES ON scaleplane_test.* TO 'scaleplane'@'127.0.0.1'");
      await admin.end();
      await db.start();
      const plainVariable = await outcome(db.query('SELECT @sp_tenant := 7'));
      const plainInto = await outcome(db.query('SELECT 7 INTO @sp_tenant'));
      const plainLock = await outcome(db.query("SELECT GET_LOCK('sp_replicas_lock_1', 0)"));
      const variableAfterPlain = (await first('SELECT @sp_tenant AS v'))?.v ?? null;
      const freeAfterPlain = await lockFree('sp_replicas_lock_1');
      await db.transaction(async (tx) => {
        await tx.query('SELECT 7 INTO @sp_tenant');
        await tx.query("SELECT GET_LOCK('sp_replicas_lock_2', 0)");
      });
      const variableAfterTransaction = (await first('SELECT @sp_tenant AS v'))?.v ?? null;
      const freeAfterTransaction = await lockFree('sp_replicas_lock_2');
      const temporary = [await request(), await request()];
      t.diagnostic(
        `db.query: @x := ${plainVariable}, INTO @x ${plainInto}, GET_LOCK ${plainLock}; @sp_tenant after ${variableAfterPlain} / ${variableAfterTransaction}; lock free after ${freeAfterPlain} / ${freeAfterTransaction}; two temporary-table requests: ${temporary.join(' / ')}`,
      );
      assert.deepEqual([plainVariable, plainInto, plainLock], ['refused', 'refused', 'refused']);
      assert.equal(variableAfterPlain, null, 'no user variable was left on the pooled connection');
      assert.equal(freeAfterPlain, true, 'no named lock was left on the pooled connection');
      assert.equal(variableAfterTransaction, null, 'the transaction left its @variable to nobody');
      assert.equal(freeAfterTransaction, true, "the transaction's connection (and its lock) ended with it");
      assert.deepEqual(temporary, ['sent', 'sent'], 'the second request makes its own temporary table');
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });
});
