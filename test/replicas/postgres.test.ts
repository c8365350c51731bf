// Acceptance 1–3 of issue 7 against a real PostgreSQL 15 primary and streaming replica, which the test
// creates (or reuses) on ports 5441/5442 through scripts/services/postgres-replica.sh.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { Registry } from 'prom-client';
import {
  createPgRouter,
  type DatabaseError,
  lsnCovers,
  type ProbeReport,
  parseLsn,
  type ReplicaDecision,
  type ReplicaError,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import { until } from '../helpers/until.js';
import {
  assertFreshReadsOnReplica,
  ensurePostgresReplication,
  freezePostgresReplica,
  nextDecision,
  PG_PRIMARY_PORT,
  PG_REPLICA_PORT,
  recordDecisions,
  startPostgresPrimary,
  startPostgresReplica,
  stopPostgresPrimary,
  stopPostgresReplica,
  thawPostgresReplica,
} from './services.js';

const PROBE_INTERVAL = 1000;
const HOLD_TIME = 1000;

// Router pools get no 'error' listener of their own: the router must absorb idle-client errors when the
// replica is killed (pg would otherwise crash the process).
function pool(port: number, max = 20): pg.Pool {
  return new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max });
}

function adminPool(port: number): pg.Pool {
  const p = pool(port, 2);
  p.on('error', () => {});
  return p;
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

describe('PostgreSQL replicas on real streaming replication', { timeout: 120_000 }, () => {
  let primaryPool: pg.Pool;
  let replicaPool: pg.Pool;
  let admin: pg.Pool;
  let replicaAdmin: pg.Pool;
  let registry: Registry;
  let db: ReplicaRouter<PgResult>;
  const errors: ReplicaError[] = [];

  before(async () => {
    await ensurePostgresReplication();
    primaryPool = pool(PG_PRIMARY_PORT);
    replicaPool = pool(PG_REPLICA_PORT);
    admin = adminPool(PG_PRIMARY_PORT);
    replicaAdmin = adminPool(PG_REPLICA_PORT);
    await admin.query('DROP TABLE IF EXISTS replicas_rw');
    await admin.query('CREATE TABLE replicas_rw (id bigserial PRIMARY KEY, v text NOT NULL)');
    registry = new Registry();
    db = createPgRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'pg',
      registry,
      probeInterval: PROBE_INTERVAL,
      holdTime: HOLD_TIME,
    });
    db.on('error', (error) => errors.push(error));
    await db.start();
    assert.equal(db.status()[0]?.eligible, true, 'replica eligible after the first probe');
  });

  after(async () => {
    // A test that failed while the primary was stopped must not leave it down for the next run.
    await startPostgresPrimary().catch(() => {});
    await thawPostgresReplica().catch(() => {});
    await replicaAdmin?.query('SELECT pg_wal_replay_resume()').catch(() => {});
    await db?.close();
    await db?.close();
    await Promise.all([primaryPool, replicaPool, admin, replicaAdmin].map((p) => p?.end()));
  });

  const port = async (sql = 'SELECT inet_server_port() AS port'): Promise<number> =>
    (await db.query(sql)).rows[0].port as number;

  it('routes reads to the replica; writes, locking reads and transactions to the primary', async () => {
    assert.equal(await port(), PG_REPLICA_PORT);
    await db.query('INSERT INTO replicas_rw (v) VALUES ($1)', ['first']);
    assert.equal(
      await port('SELECT inet_server_port() AS port FROM replicas_rw LIMIT 1 FOR UPDATE'),
      PG_PRIMARY_PORT,
    );
    assert.equal(
      (
        await db.query(
          'WITH x AS (INSERT INTO replicas_rw (v) VALUES ($1) RETURNING id) SELECT inet_server_port() AS port FROM x',
          ['cte'],
        )
      ).rows[0].port,
      PG_PRIMARY_PORT,
    );
    assert.equal((await db.write('SELECT inet_server_port() AS port')).rows[0].port, PG_PRIMARY_PORT);
    const inTx = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO replicas_rw (v) VALUES ($1)', ['tx']);
      return (await db.query('SELECT inet_server_port() AS port')).rows[0].port;
    });
    assert.equal(inTx, PG_PRIMARY_PORT, 'db.query inside a transaction is pinned to the primary');
    await assert.rejects(db.query('SELECT * FROM no_such_table'), {
      code: 'REPLICA_QUERY',
      sqlState: '42P01',
    });
  });

  it('a read that writes after all (a function with side effects) runs on the primary, once per call', async () => {
    await admin.query(
      'CREATE OR REPLACE FUNCTION replicas_add(x text) RETURNS bigint LANGUAGE sql AS $$ INSERT INTO replicas_rw (v) VALUES (x) RETURNING id $$',
    );
    await until(
      async () =>
        (await replicaAdmin.query("SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'replicas_add'"))
          .rows[0].n === 1,
      10_000,
      'the function on the replica',
    );
    const sql = 'SELECT replicas_add($1) AS id, inet_server_port() AS port';
    assert.equal(db.classify(sql).readOnly, true, 'its text looks like a read');
    const refused = nextDecision(db, (d) => d.kind === 'ReadRefusedAsWrite');
    // Before: REPLICA_QUERY 25006 "r1: cannot execute INSERT in a read-only transaction".
    assert.equal((await db.query(sql, ['by function'])).rows[0].port, PG_PRIMARY_PORT);
    assert.deepEqual((await refused).reasons, ['RefusedByReplica', '25006']);
    assert.equal(db.classify(sql).reason, 'RefusedByReplica', 'learnt: next time straight to the primary');
    assert.equal((await db.query(sql, ['by function'])).rows[0].port, PG_PRIMARY_PORT);
    const written = await admin.query("SELECT count(*)::int AS n FROM replicas_rw WHERE v = 'by function'");
    assert.equal(written.rows[0].n, 2, 'two calls, two rows');
  });

  it('an idle primary past a WAL segment switch: the caught-up replica measures lag 0, not the idle time', async () => {
    // The primary's insert position moves past the new segment's page header; the replica stops at the
    // segment boundary. Without allowing for the header, idle time counted as lag and the replica was
    // excluded after 5 s with no write (archive_timeout does this on a quiet server). A record the
    // server writes on its own right after the switch (the bgwriter's standby snapshot, every 15 s
    // on an idle server) can be replayed before the positions are read: then the replica is simply
    // past the boundary (insert = replay, once in a CI run), and the switch is tried again.
    const positions: string[] = [];
    for (let attempt = 1; ; attempt++) {
      await admin.query('INSERT INTO replicas_rw (v) VALUES ($1)', ['before switch']);
      const switchEnd = (await admin.query('SELECT pg_switch_wal()::text AS lsn')).rows[0].lsn as string;
      await until(
        async () => {
          const replay = (await replicaAdmin.query('SELECT pg_last_wal_replay_lsn()::text AS lsn')).rows[0]
            .lsn;
          return lsnCovers(replay, switchEnd);
        },
        10_000,
        'the replica replays the switch',
      );
      const [insert, replay] = await Promise.all([
        admin.query('SELECT pg_current_wal_insert_lsn()::text AS lsn'),
        replicaAdmin.query('SELECT pg_last_wal_replay_lsn()::text AS lsn'),
      ]);
      positions.push(`insert ${insert.rows[0].lsn} replay ${replay.rows[0].lsn}`);
      assert.ok(attempt <= 5, `the replica never stopped at a segment boundary: ${positions.join('; ')}`);
      if (parseLsn(insert.rows[0].lsn) <= parseLsn(replay.rows[0].lsn)) continue;
      await db.probeNow();
      const [r1] = db.status();
      // Such a record may also come between these reads and the probe (a full run's probe measured
      // 28 ms from replay-timestamp): the replica was then really behind, so try again.
      const after = (await admin.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn;
      if (after !== insert.rows[0].lsn) {
        positions.push(`a record at ${after} during the probe`);
        continue;
      }
      assert.deepEqual([r1?.source, r1?.lag, r1?.eligible], ['caught-up', 0, true], positions.join('; '));
      return;
    }
  });

  it('a replica whose pool is busy (every connection on a read) is not taken for unreachable', async () => {
    const busyPool = pool(PG_REPLICA_PORT, 2);
    const busy = createPgRouter({
      primary: primaryPool,
      replicas: { r1: busyPool },
      name: 'pg-busy',
      registry,
    });
    const decisions: string[] = [];
    busy.on('decision', (d) => decisions.push(`${d.kind} ${d.reasons}`));
    busy.on('error', () => {});
    const held: pg.PoolClient[] = [];
    try {
      await busy.start();
      assert.equal(busy.status()[0]?.eligible, true);
      // Long reads hold both pooled connections; more reads queue in the pool behind them.
      held.push(await busyPool.connect(), await busyPool.connect());
      const queued = [0, 1, 2].map(() =>
        busy.query('SELECT inet_server_port() AS port').then((r) => r.rows[0].port as number),
      );
      // The probe used to queue behind them too, time out after probeTimeout and mark the replica
      // unreachable: reads went to the primary, and those queued ran there and later on the replica.
      await busy.probeNow();
      await busy.probeNow();
      assert.deepEqual(
        busy.status().map((r) => [r.eligible, r.reason]),
        [[true, 'LagWithinMax']],
        decisions.join('; '),
      );
      for (const client of held.splice(0)) client.release();
      assert.deepEqual(await Promise.all(queued), [PG_REPLICA_PORT, PG_REPLICA_PORT, PG_REPLICA_PORT]);
      assert.deepEqual(decisions, ['ReplicaAdmitted LagWithinMax']);
    } finally {
      for (const client of held) client.release();
      await busy.close();
      await busyPool.end();
    }
  });

  it('acceptance 1: replay paused → reads move to the primary within one probe interval of lag > 5 s, back after resume', async () => {
    const lags: number[] = [];
    const onProbe = (report: ProbeReport) => lags.push(report.replicas[0]?.lag ?? Number.NaN);
    db.on('probe', onProbe);
    const excluded = nextDecision(db, (d) => d.kind === 'ReplicaExcluded' && d.replica === 'r1');
    await replicaAdmin.query('SELECT pg_wal_replay_pause()');
    const writeStart = Date.now();
    await admin.query('INSERT INTO replicas_rw (v) VALUES ($1)', ['during pause']);
    const writeEnd = Date.now();
    assert.equal(await port(), PG_REPLICA_PORT, 'while lag is under 5 s reads stay on the replica');

    const decision = await excluded;
    const afterWrite = decision.at - writeStart;
    console.log(
      `  pg: excluded ${afterWrite} ms after the write (lag ${decision.lag} ms, reasons ${decision.reasons}); probe lags ${lags.join(', ')}`,
    );
    assert.ok(decision.reasons.includes('LagAboveMax'), "decision.reasons.includes('LagAboveMax')");
    assert.ok((decision.lag ?? 0) > 5000, '(decision.lag ?? 0) > 5000');
    // Real lag passes 5 s at writeStart+5 s; the router must notice by the next probe, and not before
    // lag could be above 5 s (its estimate is an upper bound, at most one interval high).
    assert.ok(decision.at <= writeEnd + 5000 + PROBE_INTERVAL + 300, `noticed late: ${afterWrite} ms`);
    assert.ok(decision.at >= writeStart + 5000 - PROBE_INTERVAL, `noticed early: ${afterWrite} ms`);

    const fallbacksBefore = await counter(registry, 'scaleplane_replica_fallbacks_total', { router: 'pg' });
    for (let i = 0; i < 20; i++) assert.equal(await port(), PG_PRIMARY_PORT);
    const fallbacks =
      (await counter(registry, 'scaleplane_replica_fallbacks_total', { router: 'pg' })) - fallbacksBefore;
    assert.equal(fallbacks, 20, 'each fallback read is counted');
    assert.equal(await counter(registry, 'scaleplane_replica_fallback_active', { router: 'pg' }), 1);

    const restored = nextDecision(db, (d) => d.kind === 'ReplicaRestored' && d.replica === 'r1');
    const resumedAt = Date.now();
    await replicaAdmin.query('SELECT pg_wal_replay_resume()');
    const back = await restored;
    console.log(`  pg: restored ${back.at - resumedAt} ms after resume (hold ${HOLD_TIME} ms)`);
    assert.ok(back.at - resumedAt >= HOLD_TIME, 'a recovered replica waits out the hold time');
    assert.ok(
      back.at - resumedAt <= HOLD_TIME + 2 * PROBE_INTERVAL + 500,
      'back.at - resumedAt <= HOLD_TIME + 2 * PROBE_INTERVAL + 500',
    );
    assert.equal(await port(), PG_REPLICA_PORT);
    db.off('probe', onProbe);
  });

  it('acceptance 2: read-your-writes 10,000/10,000 while reads without a prior write reach the replica', async () => {
    const tries = 10_000;
    const concurrency = 16;
    let found = 0;
    let freshReadsOnReplica = 0;
    let rywOnReplica = 0;
    let next = 0;
    const worker = async () => {
      while (next < tries) {
        const i = next++;
        await db.session(async () => {
          if ((await db.query('SELECT inet_server_port() AS port')).rows[0].port === PG_REPLICA_PORT)
            freshReadsOnReplica++;
          const inserted = await db.query('INSERT INTO replicas_rw (v) VALUES ($1) RETURNING id', [
            `ryw ${i}`,
          ]);
          const read = await db.query('SELECT v, inet_server_port() AS port FROM replicas_rw WHERE id = $1', [
            inserted.rows[0].id,
          ]);
          if (read.rows[0]?.v === `ryw ${i}`) found++;
          if (read.rows[0]?.port === PG_REPLICA_PORT) rywOnReplica++;
        });
      }
    };
    const started = Date.now();
    const decisions = recordDecisions(db);
    await Promise.all(Array.from({ length: concurrency }, worker));
    const decided = decisions();
    // The same without a session, to show the guarantee is not free: these may miss. As many at once
    // as the sessions above (one after the other they took 2 of this test's 6 s alone, more when loaded).
    let staleWithoutSession = 0;
    let unsessioned = 0;
    const withoutSession = async () => {
      while (unsessioned < 1000) {
        unsessioned++;
        const inserted = await db.query('INSERT INTO replicas_rw (v) VALUES ($1) RETURNING id', [
          'no session',
        ]);
        const read = await db.query('SELECT v FROM replicas_rw WHERE id = $1', [inserted.rows[0].id]);
        if (read.rows.length === 0) staleWithoutSession++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, withoutSession));
    console.log(
      `  pg: read-your-writes ${found}/${tries} in ${Date.now() - started} ms; reads before any write on the replica ${freshReadsOnReplica}/${tries}; read-after-write served by the replica ${rywOnReplica}/${tries}; without a session ${staleWithoutSession}/1000 stale`,
    );
    assert.equal(found, tries);
    assertFreshReadsOnReplica(freshReadsOnReplica, tries, decided);
  });

  it('acceptance 3: a killed replica causes zero failed reads', async () => {
    let failures = 0;
    let onReplica = 0;
    let onPrimary = 0;
    let stop = false;
    const firstFailures: unknown[] = [];
    const retriesBefore = await counter(registry, 'scaleplane_replica_read_retries_total', { router: 'pg' });
    const worker = async () => {
      while (!stop) {
        try {
          const p = await port('SELECT inet_server_port() AS port, count(*) FROM replicas_rw');
          if (p === PG_REPLICA_PORT) onReplica++;
          else onPrimary++;
        } catch (error) {
          failures++;
          if (firstFailures.length < 3) firstFailures.push(error);
        }
      }
    };
    const excluded = nextDecision(db, (d) => d.kind === 'ReplicaExcluded' && d.replica === 'r1');
    const workers = Array.from({ length: 8 }, worker);
    let replicaBeforeKill = 0;
    let exclusion: Awaited<typeof excluded>;
    try {
      // Reads reach the replica before it is killed: awaited, not assumed after a fixed 300 ms.
      await until(() => onReplica > 0 || failures > 0, 20_000, 'a read on the replica before the kill');
      replicaBeforeKill = onReplica;
      await stopPostgresReplica();
      exclusion = await excluded;
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      // Readers must stop whatever happened, or the pools never drain and the file never ends.
      stop = true;
      await Promise.all(workers);
    }
    const retries =
      (await counter(registry, 'scaleplane_replica_read_retries_total', { router: 'pg' })) - retriesBefore;
    console.log(
      `  pg: killed replica: ${onReplica + onPrimary} reads, ${failures} failed, ${retries} retried, replica ${onReplica} (${replicaBeforeKill} before the kill), primary ${onPrimary}; excluded for ${exclusion.reasons}`,
    );
    assert.deepEqual(firstFailures, []);
    assert.equal(failures, 0);
    assert.ok(replicaBeforeKill > 0 && onPrimary > 0, 'replicaBeforeKill > 0 && onPrimary > 0');
    assert.ok(
      errors.every((e) => e.code === 'REPLICA_CONNECTION'),
      'background errors are the dead replica, reported not thrown',
    );

    const restored = nextDecision(db, (d) => d.kind === 'ReplicaRestored' && d.replica === 'r1');
    await startPostgresReplica();
    await restored;
    assert.equal(await port(), PG_REPLICA_PORT);
  });

  it('a frozen replica (SIGSTOP: connections open, no answer): reads in flight there finish on the primary', {
    timeout: 30_000,
  }, async () => {
    await until(() => db.status()[0]?.eligible === true, 20_000, 'replica eligible');
    // Each read sleeps on the replica (not on the primary) until long after the freeze, so all are
    // surely in flight there when it comes, however long the freeze script takes to run. (They slept
    // 50 ms before: on a loaded machine every one could finish before the freeze, failing the test.)
    const read = async () =>
      port('SELECT inet_server_port() AS port, pg_sleep(CASE WHEN pg_is_in_recovery() THEN 60 ELSE 0 END)');
    const inFlight: Array<Promise<number>> = [];
    const excluded = nextDecision(db, (d) => d.kind === 'ReplicaExcluded' && d.replica === 'r1');
    // With retryReads off, a read there must fail once the probe finds the replica frozen, not hang.
    const noRetry = createPgRouter({
      primary: primaryPool,
      replicas: { r1: replicaPool },
      name: 'pg-no-retry',
      registry,
      retryReads: false,
    });
    noRetry.on('error', () => {});
    let stranded: Promise<unknown> = Promise.resolve();
    try {
      await noRetry.start();
      await until(async () => (await port()) === PG_REPLICA_PORT, 20_000, 'a read on the replica');
      for (let i = 0; i < 8; i++) inFlight.push(read());
      await until(() => db.status()[0]!.inFlight === 8, 5_000, 'reads in flight on the replica');
      // Its outcome, caught at once: it settles while the test awaits other things.
      stranded = noRetry
        .query(
          'SELECT inet_server_port() AS port, pg_sleep(CASE WHEN pg_is_in_recovery() THEN 60 ELSE 0 END)',
        )
        .then(
          () => 'answered',
          (error: unknown) => error,
        );
      await until(() => noRetry.status()[0]!.inFlight === 1, 5_000, 'the read in flight on the replica');
      await freezePostgresReplica();
      await excluded;
      // Resolves only if every read came back while the replica is still frozen.
      assert.deepEqual(await Promise.all(inFlight), Array(8).fill(PG_PRIMARY_PORT));
      assert.equal(await read(), PG_PRIMARY_PORT);
      assert.deepEqual(await stranded.then((e) => [(e as ReplicaError).code, (e as DatabaseError).target]), [
        'REPLICA_CONNECTION',
        'r1',
      ]);
    } finally {
      await noRetry.close();
      await thawPostgresReplica();
      await Promise.allSettled(inFlight);
      // The sleeps the replica resumes would hold pooled connections for a minute.
      await replicaAdmin.query(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%THEN 60 ELSE%' AND pid <> pg_backend_pid()",
      );
    }
    const restored = nextDecision(db, (d) => d.kind === 'ReplicaRestored' && d.replica === 'r1');
    await restored;
    assert.equal(await port(), PG_REPLICA_PORT);
  });

  it('primary stopped: a replica fresh when the primary was last reachable keeps serving reads; writes fail; read-your-writes is not served stale; back to normal after the restart', {
    timeout: 90_000,
  }, async () => {
    // A router and pools of its own: connections to the stopped primary die with it.
    const primary = pool(PG_PRIMARY_PORT);
    const replica = pool(PG_REPLICA_PORT);
    const down = createPgRouter({
      primary,
      replicas: { r1: replica },
      name: 'pg-primary-down',
      registry: new Registry(),
      probeInterval: PROBE_INTERVAL,
      holdTime: HOLD_TIME,
    });
    down.on('error', () => {});
    const decisions: string[] = [];
    down.on('decision', (d) => decisions.push(`${d.kind} ${d.reasons.join(',')}`));
    const read = async () =>
      (await down.query('SELECT inet_server_port() AS port, count(*)::int AS n FROM replicas_rw'))
        .rows[0] as {
        port: number;
        n: number;
      };
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let sessionRead: Promise<unknown> = Promise.resolve();
    let primaryStopped = false;
    try {
      await down.start();
      await until(() => down.status()[0]?.eligible === true, 20_000, 'replica eligible');
      const rowsBefore = (await admin.query('SELECT count(*)::int AS n FROM replicas_rw')).rows[0]
        .n as number;
      await until(async () => (await read()).n === rowsBefore, 20_000, 'the replica has every row');
      // A session writes while replay is paused, so the replica lacks that write when the primary dies:
      // its read after the write must not come from the replica.
      await replicaAdmin.query('SELECT pg_wal_replay_pause()');
      let wrote = () => {};
      const written = new Promise<void>((resolve) => {
        wrote = resolve;
      });
      sessionRead = down
        .session(async () => {
          await down.query('INSERT INTO replicas_rw (v) VALUES ($1)', ['session before the outage']);
          wrote();
          await gate;
          return down.query(
            "SELECT inet_server_port() AS port FROM replicas_rw WHERE v = 'session before the outage'",
          );
        })
        .then(
          (result) => result.rows,
          (error: unknown) => error,
        );
      await written;
      const unreachable = nextDecision(down, (d) => d.kind === 'PrimaryUnreachable', 30_000).catch(
        (error: unknown) => error,
      );
      await stopPostgresPrimary();
      primaryStopped = true;
      // Lag measured against a primary that cannot be reached grows with the outage: wait until it is
      // past maxLag, which excluded the replica before the fix.
      await until(
        () => !down.status()[0]?.eligible || (down.status()[0]?.lag ?? 0) > down.options.maxLag,
        30_000,
        'lag measured past maxLag with the primary down',
      );
      await down.probeNow();

      let onReplica = 0;
      const failed: string[] = [];
      for (let i = 0; i < 20; i++) {
        try {
          const row = await read();
          if (row.port === PG_REPLICA_PORT && row.n >= rowsBefore) onReplica++;
        } catch (error) {
          failed.push(`${(error as DatabaseError).target}: ${(error as Error).message}`);
        }
      }
      console.log(
        `  pg: primary stopped: ${onReplica}/20 reads served by the replica, ${failed.length} failed${failed.length ? ` (${failed[0]})` : ''}; status ${JSON.stringify(down.status().map((r) => [r.eligible, r.reason, r.lag]))}; ${decisions.join('; ')}`,
      );
      assert.deepEqual(failed, [], 'reads keep working from the replica');
      assert.equal(onReplica, 20);
      assert.deepEqual(
        down.status().map((r) => [r.eligible, r.reason]),
        [[true, 'PrimaryUnreachable']],
      );
      assert.deepEqual(((await unreachable) as ReplicaDecision).reasons?.slice(0, 2), [
        'PrimaryUnreachable',
        'REPLICA_CONNECTION',
      ]);

      await assert.rejects(down.query('INSERT INTO replicas_rw (v) VALUES ($1)', ['during the outage']), {
        code: 'REPLICA_CONNECTION',
        target: 'primary',
      });
      // The replica lacks the session's write (replay paused): its read after the write must not come
      // from there, and with the primary down it fails.
      openGate();
      const answer = await sessionRead;
      assert.deepEqual(
        [(answer as DatabaseError).code, (answer as DatabaseError).target],
        ['REPLICA_CONNECTION', 'primary'],
        `the session's read: ${JSON.stringify(answer)}`,
      );
      await replicaAdmin.query('SELECT pg_wal_replay_resume()');

      const restored = nextDecision(down, (d) => d.kind === 'PrimaryRestored', 60_000);
      await startPostgresPrimary();
      primaryStopped = false;
      await restored;
      await down.query('INSERT INTO replicas_rw (v) VALUES ($1)', ['after the outage']);
      await until(
        async () => down.status()[0]?.reason === 'LagWithinMax' && (await read()).port === PG_REPLICA_PORT,
        60_000,
        'reads back on the replica under normal lag measurement',
      );
      console.log(`  pg: primary back: ${decisions.join('; ')}`);
    } finally {
      openGate();
      await sessionRead;
      if (primaryStopped) await startPostgresPrimary();
      await replicaAdmin.query('SELECT pg_wal_replay_resume()').catch(() => {});
      await down.close();
      await Promise.all([primary.end(), replica.end()]);
    }
  });
});
