// A primary that refuses the probe a connection because every slot is taken (53300 "too many
// clients", the classic connection-exhaustion incident) is up, and commits the writes of those
// already connected: replicas may fall behind it, often more than ever under such load. Keeping their
// reads unbounded by maxLag, as for a primary nobody reaches (nothing commits there), served reads
// of data the primary had long replaced.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createPgRouter, type ReplicaDecision, type ReplicaRouter } from '../../src/replicas/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import { until } from '../helpers/until.js';
import {
  ensureBusyPostgresReplication,
  PG_BUSY_PRIMARY_PORT as PG_PRIMARY_PORT,
  PG_BUSY_REPLICA_PORT as PG_REPLICA_PORT,
} from './services.js';

const MAX_LAG = 1000;

function pool(port: number, max = 4): pg.Pool {
  const p = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max });
  p.on('error', () => {});
  return p;
}

describe('PostgreSQL primary out of connection slots', { timeout: 120_000 }, () => {
  let primaryPool: pg.Pool;
  let replicaPool: pg.Pool;
  let admin: pg.Client;
  let replicaAdmin: pg.Pool;
  const fillers: pg.Client[] = [];
  let db: ReplicaRouter<PgResult>;

  before(async () => {
    await ensureBusyPostgresReplication();
    admin = new pg.Client({
      host: '127.0.0.1',
      port: PG_PRIMARY_PORT,
      user: 'postgres',
      database: 'postgres',
    });
    admin.on('error', () => {});
    await admin.connect();
    replicaAdmin = pool(PG_REPLICA_PORT, 2);
    await admin.query('CREATE TABLE IF NOT EXISTS replicas_busy (v int NOT NULL)');
    await admin.query('TRUNCATE replicas_busy');
    const { rows } = await admin.query('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    await until(
      async () =>
        (await replicaAdmin.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [rows[0].lsn]))
          .rows[0].done === true,
      20_000,
      'the replica replaying the table',
    );
    primaryPool = pool(PG_PRIMARY_PORT);
    replicaPool = pool(PG_REPLICA_PORT);
  });

  after(async () => {
    await Promise.all(fillers.map((c) => c.end().catch(() => {})));
    await replicaAdmin?.query('SELECT pg_wal_replay_resume()').catch(() => {});
    await db?.close();
    await admin?.end().catch(() => {});
    await Promise.all([primaryPool, replicaPool, replicaAdmin].map((p) => p?.end()));
  });

  it('replicas falling behind it are excluded past maxLag', async () => {
    db = createPgRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'primary-busy',
      maxLag: MAX_LAG,
      // Rounds run when the test says (probeNow), not on a timer.
      probeInterval: 60_000,
      staleAfter: 120_000,
    });
    db.on('error', () => {});
    const decisions: ReplicaDecision[] = [];
    db.on('decision', (d) => decisions.push(d));
    await db.start();
    assert.equal(db.status()[0]?.eligible, true, 'r1 eligible at the start');

    // Every other client of the primary goes (the router's probe connection among them), then the
    // test takes every slot left: the probe's reconnect is refused with 53300.
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    for (;;) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: PG_PRIMARY_PORT,
        user: 'postgres',
        database: 'postgres',
      });
      client.on('error', () => {});
      try {
        await client.connect();
      } catch (error) {
        assert.equal((error as { code?: string }).code, '53300', `connecting failed: ${error}`);
        break;
      }
      fillers.push(client);
      assert.ok(fillers.length < 1000, 'the primary never ran out of connection slots');
    }

    // The replica stops replaying; the primary, up, commits on a connection it already had.
    await replicaAdmin.query('SELECT pg_wal_replay_pause()');
    await admin.query('INSERT INTO replicas_busy VALUES (1)');
    const seen: string[] = [];
    await until(
      async () => {
        await db.probeNow();
        const r1 = db.status()[0];
        seen.push(`${r1?.eligible}/${r1?.reason}/${r1?.lag === null ? null : Math.round(r1?.lag ?? 0)}`);
        return r1?.eligible === false;
      },
      15_000,
      'r1, not replaying what the busy primary commits, excluded',
    ).catch((error: Error) => {
      throw new Error(`${error.message}; rounds (eligible/reason/lag): ${seen.slice(-4).join(', ')}`);
    });
    assert.equal(db.status()[0]?.reason, 'LagAboveMax', `r1's reason: ${db.status()[0]?.reason}`);
    assert.ok(
      decisions.some((d) => d.kind === 'PrimaryUnreachable' && d.reasons.includes('REPLICA_CONNECTION')),
      `the probe says it cannot reach the primary: ${decisions.map((d) => d.kind).join(', ')}`,
    );

    // A slot back for the router's pool: the read goes to the primary and sees the write.
    await fillers.pop()?.end();
    const { rows } = await db.query('SELECT count(*)::int AS n FROM replicas_busy');
    assert.equal(rows[0].n, 1, 'the read saw the replica, which has not replayed the write');
  });
});

// The first probe round has no earlier primary position to bound a replica's lag by. A replica a
// moment behind (WAL just written, not yet replayed: a write, a checkpoint, the WAL writer's 200 ms)
// was judged by the age of its last replayed commit instead, as old as the primary had been idle,
// and kept from reads for holdTime from the start. Here the replica applies commits 400 ms late.
describe('PostgreSQL: the first probe round, a replica a moment behind an idle primary', {
  timeout: 120_000,
}, () => {
  const APPLY_DELAY = 400;
  const LAG = 1000;
  let admin: pg.Pool;
  let replicaAdmin: pg.Pool;
  let primaryPool: pg.Pool;
  let replicaPool: pg.Pool;
  let db: ReplicaRouter<PgResult>;

  before(async () => {
    await ensureBusyPostgresReplication();
    admin = pool(PG_PRIMARY_PORT, 2);
    replicaAdmin = pool(PG_REPLICA_PORT, 2);
    await replicaAdmin.query('SELECT pg_wal_replay_resume()');
    await replicaAdmin.query(`ALTER SYSTEM SET recovery_min_apply_delay = '${APPLY_DELAY}ms'`);
    await replicaAdmin.query('SELECT pg_reload_conf()');
    await admin.query('CREATE TABLE IF NOT EXISTS replicas_first_round (v int NOT NULL)');
    primaryPool = pool(PG_PRIMARY_PORT);
    replicaPool = pool(PG_REPLICA_PORT);
  });

  after(async () => {
    await db?.close();
    await replicaAdmin?.query('ALTER SYSTEM RESET recovery_min_apply_delay').catch(() => {});
    await replicaAdmin?.query('SELECT pg_reload_conf()').catch(() => {});
    await Promise.all([admin, replicaAdmin, primaryPool, replicaPool].map((p) => p?.end()));
  });

  it('is admitted at once when it replays the primary position within the round', async () => {
    // A commit the replica has replayed, then idle: its age passes maxLag.
    await admin.query('INSERT INTO replicas_first_round VALUES (1)');
    const { rows } = await admin.query('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    await until(
      async () =>
        (
          await replicaAdmin.query(
            `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn
                AND clock_timestamp() - pg_last_xact_replay_timestamp() > interval '${LAG + 100} ms' AS old`,
            [rows[0].lsn],
          )
        ).rows[0].old === true,
      20_000,
      'the last replayed commit older than maxLag',
    );
    // A write the replica applies APPLY_DELAY ms late, and the router starts at once.
    await admin.query('INSERT INTO replicas_first_round VALUES (2)');
    db = createPgRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'first-round',
      maxLag: LAG,
      probeInterval: 60_000,
      staleAfter: 120_000,
    });
    db.on('error', () => {});
    await db.start();
    const r1 = db.status()[0];
    assert.equal(
      r1?.eligible,
      true,
      `r1, ${APPLY_DELAY} ms behind, not admitted by the first round: ${r1?.reason}, lag ${r1?.lag} ms from ${r1?.source}`,
    );
    assert.ok((r1?.lag ?? Number.POSITIVE_INFINITY) <= LAG, `r1's lag ${r1?.lag} ms`);
  });
});
