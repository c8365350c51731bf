// A replica whose clock runs behind the primary's (libfaketime). PostgreSQL's replay-timestamp bound was the
// replica's clock_timestamp() minus the primary's commit timestamp: 30 s of skew made a replica 10 s
// behind read lag 0 (clamped from -20 s), eligible, serving stale reads. A private pair in its own
// folder (ports 5451/5452), the replica under libfaketime, stopped and removed after.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import { createMysqlRouter, createPgRouter, type ReplicaRouter } from '../../src/replicas/index.js';
import type { MysqlResult } from '../../src/replicas/mysql/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import { until } from '../helpers/until.js';
import { type PrivateMariadbPair, privateMariadbPair } from './private-mariadb.js';

const run = promisify(execFile);
const BIN = '/usr/lib/postgresql/15/bin';
const PRIMARY_PORT = 5451;
const REPLICA_PORT = 5452;
const SKEW_SECONDS = 30;
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/** asPostgres runs a PostgreSQL tool as the postgres user (the server refuses to run as root). */
function asPostgres(args: string[], env: NodeJS.ProcessEnv = {}): Promise<unknown> {
  return run('runuser', ['-u', 'postgres', '--', ...args], {
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
}

/** ensureFaketime installs libfaketime when missing (scripts/services.sh does it before a CI run). */
async function ensureFaketime(): Promise<void> {
  await run('bash', [join(import.meta.dirname, '../../scripts/services/faketime.sh')], { timeout: 300_000 });
}

describe('PostgreSQL: a replica whose clock runs 30 s behind the primary', { timeout: 240_000 }, () => {
  let dir: string;
  let primary: pg.Pool;
  let replica: pg.Pool;
  let db: ReplicaRouter<PgResult>;
  const started: string[] = [];

  before(async () => {
    await ensureFaketime();
    dir = await mkdtemp('/tmp/replicas-skew-');
    await chmod(dir, 0o755);
    await chown(dir, Number((await run('id', ['-u', 'postgres'])).stdout), 0);
    const p = join(dir, 'p');
    const r = join(dir, 'r');
    await asPostgres([`${BIN}/initdb`, '-D', p, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await writeFile(
      join(p, 'postgresql.auto.conf'),
      `port = ${PRIMARY_PORT}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nfsync = off\nwal_level = replica\n`,
    );
    await asPostgres([`${BIN}/pg_ctl`, '-D', p, '-l', join(dir, 'p.log'), '-w', 'start']);
    started.push(p);
    await asPostgres([
      `${BIN}/pg_basebackup`,
      '-h',
      '127.0.0.1',
      '-p',
      String(PRIMARY_PORT),
      '-U',
      'postgres',
      '-D',
      r,
      '-R',
      '-X',
      'stream',
    ]);
    await run('bash', ['-c', `echo "port = ${REPLICA_PORT}" >> ${r}/postgresql.auto.conf`]);
    await asPostgres([`${BIN}/pg_ctl`, '-D', r, '-l', join(dir, 'r.log'), '-w', 'start'], {
      LD_PRELOAD: FAKETIME_LIB,
      FAKETIME: `-${SKEW_SECONDS}`,
      DONT_FAKE_MONOTONIC: '1',
    });
    started.push(r);
    const pool = (port: number) => {
      const made = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 4 });
      made.on('error', () => {});
      return made;
    };
    primary = pool(PRIMARY_PORT);
    replica = pool(REPLICA_PORT);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primary, replica].map((p) => p?.end()));
    for (const data of started.reverse())
      await asPostgres([`${BIN}/pg_ctl`, '-D', data, '-m', 'immediate', 'stop']).catch(() => {});
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('is excluded once its replay falls maxLag behind, skew or not', async (t) => {
    const { rows } = await replica.query(
      'SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 * 1000 AS clock',
    );
    const skew = Date.now() - Number(rows[0]?.clock);
    assert.ok(skew > (SKEW_SECONDS - 2) * 1000, `the replica's clock is not behind: ${skew} ms`);

    const MAX_LAG = 2_000;
    db = createPgRouter({
      primary,
      replicas: { r1: replica },
      name: 'clock-skew',
      maxLag: MAX_LAG,
      probeInterval: 200,
      holdTime: 200,
    });
    db.on('error', () => {});
    await primary.query('CREATE TABLE IF NOT EXISTS skew_t (at timestamptz)');
    await db.start();
    await until(async () => db.status()[0]?.eligible === true, 20_000, 'r1 eligible while replaying');

    await replica.query('SELECT pg_wal_replay_pause()');
    const pausedAt = Date.now();
    try {
      // Commits keep coming: the replica is behind, by more than maxLag after 2 s.
      const writer = setInterval(() => {
        primary.query('INSERT INTO skew_t VALUES (now())').catch(() => {});
      }, 100);
      try {
        await until(
          async () => Date.now() - pausedAt > MAX_LAG + 2_000,
          20_000,
          'maxLag and two more seconds of replay paused',
        );
      } finally {
        clearInterval(writer);
      }
      await db.probeNow();
      const [r1] = db.status();
      t.diagnostic(
        `replay paused ${Date.now() - pausedAt} ms: r1 ${r1?.reason}, lag ${r1?.lag} ms (${r1?.source})`,
      );
      assert.equal(
        r1?.eligible,
        false,
        `r1 is ${Date.now() - pausedAt} ms behind, yet eligible: ${r1?.reason}, lag ${r1?.lag} ms from ${r1?.source}`,
      );
      assert.ok(
        (r1?.lag ?? 0) >= MAX_LAG,
        `r1's lag ${r1?.lag} ms from ${r1?.source}, replay paused ${Date.now() - pausedAt} ms ago`,
      );
    } finally {
      await replica.query('SELECT pg_wal_replay_resume()');
    }
  });
});

// MariaDB: the heartbeat's age was the replica's NOW(6) minus the primary's; a replica 30 s behind on
// the clock read 0 (clamped). A private pair (3353/3354, own folder, removed after), the replica
// restarted under libfaketime; root to stop its SQL thread.
const MARIADB_PRIMARY_PORT = 3353;
const MARIADB_REPLICA_PORT = 3354;

/**
 * replicaHasDatabase waits (60 s) until the private replica lists scaleplane_test; on a timeout it
 * says what the replica's SHOW SLAVE STATUS reports (threads, last errors), not only that it waited.
 */
async function replicaHasDatabase(when: string): Promise<void> {
  const bare = await mysql.createConnection({ host: '127.0.0.1', port: MARIADB_REPLICA_PORT, user: 'root' });
  try {
    await until(
      async () =>
        ((await bare.query("SHOW DATABASES LIKE 'scaleplane_test'")) as [RowDataPacket[], unknown])[0]
          .length === 1,
      60_000,
      `the replica has scaleplane_test ${when}`,
    ).catch(async (error: Error) => {
      const [[status]] = (await bare.query('SHOW SLAVE STATUS')) as [RowDataPacket[], unknown];
      const fields = [
        'Slave_IO_Running',
        'Slave_SQL_Running',
        'Last_IO_Error',
        'Last_SQL_Error',
        'Gtid_IO_Pos',
      ];
      throw new Error(
        `${error.message}; SHOW SLAVE STATUS: ${fields.map((f) => `${f} ${JSON.stringify(status?.[f])}`).join(', ')}`,
      );
    });
  } finally {
    await bare.end();
  }
}

// Up to 180 s for `up` on a loaded machine, then the cases and up to 120 s for `down`.
describe('MariaDB: a replica whose clock runs 30 s behind the primary', { timeout: 420_000 }, () => {
  let pair: PrivateMariadbPair | undefined;
  let primary: mysql.Pool;
  let replica: mysql.Pool;
  let db: ReplicaRouter<MysqlResult>;

  before(async () => {
    await ensureFaketime();
    pair = await privateMariadbPair('skew-mariadb', MARIADB_PRIMARY_PORT, MARIADB_REPLICA_PORT);
    await pair.run(['up']);
    // Replayed before the restart, CREATE DATABASE is on the replica's disk: after it, only the
    // replication link has to come back (a CI run waited 30 s for the database after the restart).
    await replicaHasDatabase('before its restart');
    await pair.run(['stop-replica', String(MARIADB_REPLICA_PORT)]);
    await pair.run(['start-replica', String(MARIADB_REPLICA_PORT)], {
      LD_PRELOAD: FAKETIME_LIB,
      FAKETIME: `-${SKEW_SECONDS}`,
      DONT_FAKE_MONOTONIC: '1',
    });
    await replicaHasDatabase('after its restart under libfaketime');
    const pool = (port: number) =>
      mysql.createPool({
        host: '127.0.0.1',
        port,
        user: 'root',
        database: 'scaleplane_test',
        connectionLimit: 4,
      });
    primary = pool(MARIADB_PRIMARY_PORT);
    replica = pool(MARIADB_REPLICA_PORT);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primary, replica].map((p) => p?.end()));
    await pair?.down();
  });

  it('is excluded once its heartbeat falls maxLag behind, skew or not', async (t) => {
    const [[row]] = (await replica.query('SELECT UNIX_TIMESTAMP(NOW(6)) * 1000e0 AS clock')) as [
      RowDataPacket[],
      unknown,
    ];
    const skew = Date.now() - Number(row?.clock);
    assert.ok(skew > (SKEW_SECONDS - 2) * 1000, `the replica's clock is not behind: ${skew} ms`);

    const MAX_LAG = 2_000;
    db = createMysqlRouter({
      primary,
      replicas: { r1: replica },
      name: 'clock-skew-mariadb',
      maxLag: MAX_LAG,
      probeInterval: 200,
      holdTime: 200,
    });
    db.on('error', () => {});
    await db.start();
    // Eligible by the heartbeat, not only by SHOW SLAVE STATUS: the first rounds may measure r1 before
    // the router's heartbeat row has replicated, and with the SQL thread stopped it never would.
    await until(
      async () => db.status()[0]?.eligible === true && db.status()[0]?.source === 'heartbeat',
      20_000,
      'r1 eligible by its heartbeat while replicating',
    );

    await replica.query('STOP SLAVE SQL_THREAD');
    const stoppedAt = Date.now();
    try {
      await until(async () => Date.now() - stoppedAt > MAX_LAG + 2_000, 20_000, 'maxLag and 2 s more');
      await db.probeNow();
      const [r1] = db.status();
      t.diagnostic(
        `SQL thread stopped ${Date.now() - stoppedAt} ms: r1 ${r1?.reason}, lag ${r1?.lag} ms (${r1?.source})`,
      );
      assert.equal(
        r1?.eligible,
        false,
        `r1 is ${Date.now() - stoppedAt} ms behind, yet eligible: ${r1?.reason}, lag ${r1?.lag} ms from ${r1?.source}`,
      );
      assert.ok((r1?.lag ?? 0) >= MAX_LAG, `r1's lag ${r1?.lag} ms from ${r1?.source}`);
    } finally {
      await replica.query('START SLAVE SQL_THREAD');
    }
  });
});
