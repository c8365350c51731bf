// A PostgreSQL replica on another timeline than the primary's: its LSNs past the fork name WAL the
// primary never wrote, so compared as numbers they made it look caught up and a session's write look
// replayed there. Private clusters on 5481 (the old primary), 5482 (promoted) and 5483 (left behind).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { createPgRouter } from '../../src/replicas/index.js';
import { followedTimeline, onOtherTimeline, walfileTimeline } from '../../src/replicas/postgres/timeline.js';

const run = promisify(execFile);

describe('followedTimeline and onOtherTimeline', () => {
  const cases: Array<[string, Parameters<typeof followedTimeline>[0], number | null]> = [
    ['a receiver that shows its timeline', { receiverRunning: true, received: 2, checkpoint: 1 }, 2],
    ['a receiver whose details are hidden', { receiverRunning: true, received: null, checkpoint: 1 }, null],
    ['no receiver: the last restartpoint', { receiverRunning: false, received: null, checkpoint: 1 }, 1],
    ['no receiver, no control data', { receiverRunning: false, received: null, checkpoint: null }, null],
  ];
  for (const [name, reading, expected] of cases)
    it(name, () => assert.equal(followedTimeline(reading), expected, `${name}: ${JSON.stringify(reading)}`));

  it('compares only timelines known on both sides', () => {
    assert.equal(onOtherTimeline(2, 1), true, 'a replica on timeline 1 under a primary on 2');
    assert.equal(onOtherTimeline(1, 2), true, 'a replica ahead of the primary on a newer timeline');
    assert.equal(onOtherTimeline(2, 2), false, 'the same timeline');
    assert.equal(onOtherTimeline(null, 1), false, 'primary timeline unknown');
    assert.equal(onOtherTimeline(2, null), false, 'replica timeline unknown');
  });

  it('walfileTimeline reads the first 8 hex digits of a WAL file name', () => {
    assert.equal(walfileTimeline('0000000A0000000000000003'), 10, 'timeline 0xA');
    assert.equal(walfileTimeline(null), null, 'no file name');
    assert.equal(walfileTimeline('00000001.history'), null, 'not a WAL segment name');
  });
});

describe('PostgreSQL: a replica left on the old timeline after a promotion', { timeout: 240_000 }, () => {
  const OLD_PRIMARY = 5481;
  const PROMOTED = 5482;
  const LEFT = 5483;
  const env = {
    ...process.env,
    SCALEPLANE_PG_PRIMARY_PORT: String(OLD_PRIMARY),
    SCALEPLANE_PG_REPLICA_PORTS: `${PROMOTED} ${LEFT}`,
  };
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'services', 'postgres-replica.sh');
  const pools: pg.Pool[] = [];
  const routers: Array<{ close(): Promise<void> }> = [];
  const pgPool = (port: number) => {
    const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 4 });
    pool.on('error', () => {});
    pools.push(pool);
    return pool;
  };
  let admin: { old: pg.Pool; promoted: pg.Pool; left: pg.Pool };

  /** replayed waits until `replica` has replayed `source`'s insert position. */
  async function replayed(source: pg.Pool, replica: pg.Pool, what: string): Promise<void> {
    const { rows } = await source.query('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    for (let i = 0; i < 3000; i++) {
      const { rows: at } = await replica.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [
        rows[0].lsn,
      ]);
      if (at[0]?.done === true) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(`${what} did not replay ${rows[0].lsn} within 30 s`);
  }

  before(async () => {
    // Left over by a run that died before its `after`: the promoted one is recreated by `up`.
    await run('bash', [script, 'up'], { env, timeout: 180_000 });
    admin = { old: pgPool(OLD_PRIMARY), promoted: pgPool(PROMOTED), left: pgPool(LEFT) };
    await admin.old.query('CREATE TABLE IF NOT EXISTS timeline_t (id int PRIMARY KEY)');
    await admin.old.query('TRUNCATE timeline_t');
    await replayed(admin.old, admin.promoted, 'the replica to promote');
    await replayed(admin.old, admin.left, 'the replica left behind');
    // The failover: 5482 is promoted (timeline 2); 5483 still follows 5481, which nobody fenced and
    // which goes on taking writes, so 5483 replays timeline 1 past the fork, beyond 5482's position.
    await admin.promoted.query('SELECT pg_promote(true, 30)');
    await admin.old.query('INSERT INTO timeline_t SELECT g FROM generate_series(1000, 30999) AS g');
    await replayed(admin.old, admin.left, 'the replica left behind');
    const { rows } = await admin.left.query('SELECT pg_last_wal_replay_lsn() > $1::pg_lsn AS ahead', [
      (await admin.promoted.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn,
    ]);
    assert.equal(rows[0]?.ahead, true, "the replica left behind replays past the new primary's position");
  });

  after(async () => {
    for (const router of routers) await router.close().catch(() => {});
    await Promise.all(pools.map((pool) => pool.end().catch(() => {})));
    // Only this file's clusters: the script's `down` drops every sp_* cluster, other files' pairs too.
    for (const name of [`sp_replica_${LEFT}`, `sp_replica_${PROMOTED}`, `sp_primary_${OLD_PRIMARY}`]) {
      await run('pg_dropcluster', ['--stop', '15', name], { timeout: 60_000 }).catch(() => {});
      await rm(`/etc/postgresql/15/${name}`, { recursive: true, force: true });
    }
  });

  /** router starts a router with the promoted server as its primary and the left one as its replica. */
  async function router(name: string) {
    const db = createPgRouter({
      primary: pgPool(PROMOTED),
      replicas: { r2: pgPool(LEFT) },
      name,
      probeInterval: 60_000,
      probeTimeout: 5_000,
    });
    db.on('error', () => {});
    routers.push(db);
    await db.start();
    return db;
  }

  async function sessionReadsItsWrite(db: Awaited<ReturnType<typeof router>>, id: number): Promise<void> {
    await db.session(async () => {
      await db.write('INSERT INTO timeline_t VALUES ($1)', [id]);
      const { rows } = await db.query(
        "SELECT current_setting('port')::int AS port, EXISTS (SELECT 1 FROM timeline_t WHERE id = $1) AS has",
        [id],
      );
      assert.equal(
        rows[0]?.has,
        true,
        `the session's read went to ${rows[0]?.port} and missed its write: ${JSON.stringify(db.status())}`,
      );
    });
    const [r2] = db.status();
    assert.equal(r2?.eligible, false, `r2 follows timeline 1, so no reads: ${JSON.stringify(r2)}`);
    assert.equal(r2?.source, 'other-timeline', `the probe says why: ${JSON.stringify(r2)}`);
  }

  it('still streaming from the old primary: no reads, and a session reads its write', async () => {
    await sessionReadsItsWrite(await router('timeline-streaming'), 1);
  });

  it('its upstream gone (no WAL receiver): no reads, by its last restartpoint', async () => {
    await run('bash', [script, 'stop-primary'], { env, timeout: 60_000 });
    for (let i = 0; ; i++) {
      const { rows } = await admin.left.query('SELECT count(*)::int AS n FROM pg_stat_wal_receiver');
      if (rows[0]?.n === 0) break;
      assert.ok(i < 3000, 'the WAL receiver of the replica left behind ends within 30 s of its upstream');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await sessionReadsItsWrite(await router('timeline-no-receiver'), 2);
  });
});
