// Rounds asked for between the scheduled ones (a read failed as if its replica were unreachable, a
// write found the primary read-only) are spaced by recheckGap, against the steady PostgreSQL pair
// (5443/5444) and MariaDB pair (3343/3344). Before, each asked for a round of its own as soon as the
// last ended: a replica pool too busy to hand out a connection in time, or a standby left configured
// as the primary under a flow of writes, kept rounds running back to back, each on a new probe
// connection and, on MariaDB, writing a heartbeat to the primary's binlog.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { createMysqlRouter, createPgRouter, type ReplicaRouter } from '../../src/replicas/index.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

const GAP = 500;
/** The writes' case spaces rounds wider: a round there reconnects (about 100 ms), fewer fit a second. */
const WRITES_GAP = 1_000;

const pgPool = (port: number, extra: pg.PoolConfig = {}) =>
  new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', ...extra });

const mariadbOptions = {
  host: '127.0.0.1',
  user: 'scaleplane',
  password: 'scaleplane',
  database: 'scaleplane_test',
};

/** countRounds counts the probe rounds `router` ends from now on. */
function countRounds(router: ReplicaRouter<unknown>): () => number {
  let rounds = 0;
  router.on('probe', () => rounds++);
  return () => rounds;
}

/** PostgreSQL sessions opened on the server at `port` so far (probe connections among them). */
async function pgSessions(port: number): Promise<number> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const result = await client.query<{ sessions: string }>(
      "SELECT sessions::text FROM pg_stat_database WHERE datname = 'postgres'",
    );
    return Number(result.rows[0]?.sessions);
  } finally {
    await client.end();
  }
}

/**
 * The most rounds that may end within `elapsed` ms when rounds asked for start `gap` apart: the one
 * under way when it began, and one per gap after.
 */
const spacedBound = (elapsed: number, gap = GAP) => 2 + Math.ceil(elapsed / gap);

describe('rounds asked for between the scheduled ones', { timeout: 120_000 }, () => {
  it('PostgreSQL: a replica pool that times out every checkout has its replica rechecked at most once per recheckGap', async (t) => {
    await ensureSteadyPostgresReplication();
    const primary = pgPool(PG_STEADY_PRIMARY_PORT);
    const replica = pgPool(PG_STEADY_REPLICA_PORT, { max: 1 });
    const db = createPgRouter({
      primary,
      replicas: { r1: replica },
      name: 'recheck-storm-pg',
      probeInterval: 60_000,
      recheckGap: GAP,
    });
    db.on('error', () => {});
    try {
      await db.start();
      assert.equal(db.status()[0]?.eligible, true, `r1 eligible at start: ${db.status()[0]?.reason}`);
      // The pool's one connection is taken: each read waits 50 ms for it, then runs on the primary.
      // (Set once it is open: on a loaded machine opening it may take longer than that.)
      const held = await replica.connect();
      (replica as unknown as { options: pg.PoolConfig }).options.connectionTimeoutMillis = 50;
      const rounds = countRounds(db as ReplicaRouter<unknown>);
      const sessionsBefore = await pgSessions(PG_STEADY_REPLICA_PORT);
      const started = performance.now();
      const ports: number[] = [];
      for (let i = 0; i < 30; i++) {
        const result = await db.query('SELECT inet_server_port() AS port');
        ports.push(Number(result.rows[0]?.port));
      }
      const elapsed = performance.now() - started;
      const ended = rounds();
      held.release();
      const opened = (await pgSessions(PG_STEADY_REPLICA_PORT)) - sessionsBefore - 1;
      t.diagnostic(
        `30 reads in ${Math.round(elapsed)} ms: ${ended} rounds, ${opened} new sessions on the replica`,
      );
      assert.ok(
        ports.every((port) => port === PG_STEADY_PRIMARY_PORT),
        `every read served by the primary: ${ports.join(',')}`,
      );
      assert.equal(db.status()[0]?.eligible, true, `r1 stays eligible: ${db.status()[0]?.reason}`);
      assert.ok(
        ended <= spacedBound(elapsed),
        `at most ${spacedBound(elapsed)} rounds in ${Math.round(elapsed)} ms, got ${ended}`,
      );
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });

  it('MariaDB: a replica pool that refuses every checkout writes at most one heartbeat per recheckGap', async (t) => {
    await ensureSteadyMariadbReplication();
    const primary = mysql.createPool({ ...mariadbOptions, port: MARIADB_STEADY_PRIMARY_PORT });
    const replica = mysql.createPool({
      ...mariadbOptions,
      port: MARIADB_STEADY_REPLICA_PORT,
      connectionLimit: 1,
      waitForConnections: false,
    });
    const db = createMysqlRouter({
      primary,
      replicas: { r1: replica },
      name: 'recheck-storm-mariadb',
      probeInterval: 60_000,
      recheckGap: GAP,
    });
    db.on('error', () => {});
    const position = async () => {
      const [rows] = await primary.query<RowDataPacket[]>('SELECT @@GLOBAL.gtid_binlog_pos AS p');
      return String(rows[0]?.p);
    };
    try {
      await db.start();
      assert.equal(db.status()[0]?.eligible, true, `r1 eligible at start: ${db.status()[0]?.reason}`);
      // Its one connection taken, the pool refuses each checkout at once ("No connections available.").
      const held = await replica.getConnection();
      const rounds = countRounds(db as ReplicaRouter<unknown>);
      const before = await position();
      const started = performance.now();
      let reads = 0;
      while (performance.now() - started < 1_000) {
        await db.query('SELECT 1');
        reads++;
      }
      const elapsed = performance.now() - started;
      const ended = rounds();
      held.release();
      t.diagnostic(
        `${reads} reads in ${Math.round(elapsed)} ms: ${ended} rounds; primary's binlog ${before} → ${await position()}`,
      );
      assert.ok(
        ended <= spacedBound(elapsed),
        `at most ${spacedBound(elapsed)} rounds in ${Math.round(elapsed)} ms, got ${ended}`,
      );
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });

  it('PostgreSQL: writes to a standby given as the primary ask for a round at most once per recheckGap', async (t) => {
    await ensureSteadyPostgresReplication();
    // The steady standby as the primary: in recovery, so every write is refused before it is sent.
    const primary = pgPool(PG_STEADY_REPLICA_PORT);
    const replica = pgPool(PG_STEADY_REPLICA_PORT);
    const db = createPgRouter({
      primary,
      replicas: { r1: replica },
      name: 'recheck-storm-pg-writes',
      probeInterval: 60_000,
      recheckGap: WRITES_GAP,
    });
    db.on('error', () => {});
    try {
      await db.start();
      const rounds = countRounds(db as ReplicaRouter<unknown>);
      const sessionsBefore = await pgSessions(PG_STEADY_REPLICA_PORT);
      const started = performance.now();
      const refusals: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (performance.now() - started < 1_000) {
            const error = await db.query('INSERT INTO sp_never_sent VALUES (1)').then(
              () => null,
              (e: { code?: string }) => e,
            );
            refusals.push(String(error?.code));
          }
        }),
      );
      const elapsed = performance.now() - started;
      const ended = rounds();
      const opened = (await pgSessions(PG_STEADY_REPLICA_PORT)) - sessionsBefore - 1;
      t.diagnostic(
        `${refusals.length} writes in ${Math.round(elapsed)} ms: ${ended} rounds, ${opened} new sessions on the standby`,
      );
      assert.ok(
        refusals.every((code) => code === 'REPLICA_PRIMARY_READ_ONLY'),
        `every write refused unsent: ${[...new Set(refusals)].join(',')}`,
      );
      assert.ok(
        ended <= spacedBound(elapsed, WRITES_GAP),
        `at most ${spacedBound(elapsed, WRITES_GAP)} rounds in ${Math.round(elapsed)} ms, got ${ended}`,
      );
    } finally {
      await db.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });
});
