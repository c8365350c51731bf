// What a replica pool's own failures teach the router, against the steady PostgreSQL pair
// (5443/5444) and MariaDB pair (3343/3344): a checkout that timed out or was refused because every
// pooled connection was busy is no unreachable server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import mysql, { type Pool, type PoolOptions, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import {
  createMysqlRouter,
  createPgRouter,
  type MysqlResult,
  type ReplicaDecision,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

describe('PostgreSQL: a busy replica pool', { timeout: 120_000 }, () => {
  let primary: pg.Pool;
  let replica: pg.Pool;
  let db: ReplicaRouter<PgResult>;
  const decisions: ReplicaDecision[] = [];

  before(async () => {
    await ensureSteadyPostgresReplication();
    primary = new pg.Pool({
      host: '127.0.0.1',
      port: PG_STEADY_PRIMARY_PORT,
      user: 'postgres',
      database: 'postgres',
    });
    // One connection, and a checkout may wait 50 ms: the second concurrent read gives up waiting.
    replica = new pg.Pool({
      host: '127.0.0.1',
      port: PG_STEADY_REPLICA_PORT,
      user: 'postgres',
      database: 'postgres',
      max: 1,
      connectionTimeoutMillis: 50,
    });
    db = createPgRouter({ primary, replicas: { r1: replica }, name: 'pools-pg' });
    db.on('error', () => {});
    db.on('decision', (decision) => decisions.push(decision));
    await db.start();
    assert.equal(db.status()[0]?.eligible, true, `r1: ${db.status()[0]?.reason}`);
    // The pool's one connection, opened now: on a loaded machine opening it can take longer than the
    // 50 ms a checkout may wait, and the slow read below must find it open.
    for (let attempt = 1; ; attempt++) {
      try {
        await replica.query('SELECT 1');
        break;
      } catch (error) {
        if (attempt === 20) throw error;
      }
    }
  });

  after(async () => {
    await db?.close();
    await Promise.all([primary?.end(), replica?.end()]);
  });

  it('a checkout timeout retries that read elsewhere; the replica and the reads running there stay', async () => {
    const port = (result: PgResult) => Number(result.rows[0]?.port);
    const slow = db.query('SELECT pg_sleep(0.3), inet_server_port() AS port');
    const queued = db.query('SELECT inet_server_port() AS port');
    assert.equal(
      port(await queued),
      PG_STEADY_PRIMARY_PORT,
      'the read that found the pool busy ran on the primary',
    );
    // Before: the replica was excluded as Unreachable, and the read running there was abandoned and
    // run again on the primary (0.56 s instead of 0.3 s).
    assert.equal(port(await slow), PG_STEADY_REPLICA_PORT, 'the read running on the replica finished there');
    await db.probeNow();
    assert.equal(db.status()[0]?.eligible, true, `r1 stays eligible (${db.status()[0]?.reason})`);
    assert.deepEqual(
      decisions.filter((d) => d.kind === 'ReplicaExcluded').map((d) => d.reasons),
      [],
    );
    assert.equal(port(await db.query('SELECT inet_server_port() AS port')), PG_STEADY_REPLICA_PORT);
  });
});

// The probe opens its own connection like the pool's, but bounds it by probeTimeout: the pool's connect
// timeout is how long a read may wait, often short. Before, a replica whose connection took longer
// than that to open (a loaded machine: here 300 ms through a proxy) was "Unreachable" from the start.
describe("a pool's short connect timeout is not the probe's", { timeout: 120_000 }, () => {
  const engines = [
    {
      name: 'PostgreSQL: connectionTimeoutMillis 50',
      ensure: ensureSteadyPostgresReplication,
      replicaPort: PG_STEADY_REPLICA_PORT,
      open(replicaPort: number) {
        const pool = (port: number, extra: pg.PoolConfig = {}) =>
          new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', ...extra });
        const pools = [pool(PG_STEADY_PRIMARY_PORT), pool(replicaPort, { connectionTimeoutMillis: 50 })];
        const db = createPgRouter({
          primary: pools[0]!,
          replicas: { r1: pools[1]! },
          name: 'pools-pg-connect',
          probeTimeout: 3_000,
        });
        return { db: db as ReplicaRouter<unknown>, end: () => Promise.all(pools.map((p) => p.end())) };
      },
    },
    {
      name: 'MariaDB: connectTimeout 50',
      ensure: ensureSteadyMariadbReplication,
      replicaPort: MARIADB_STEADY_REPLICA_PORT,
      open(replicaPort: number) {
        const pool = (port: number, extra: PoolOptions = {}) =>
          mysql.createPool({
            host: '127.0.0.1',
            port,
            user: 'scaleplane',
            password: 'scaleplane',
            database: 'scaleplane_test',
            ...extra,
          });
        const pools = [pool(MARIADB_STEADY_PRIMARY_PORT), pool(replicaPort, { connectTimeout: 50 })];
        const db = createMysqlRouter({
          primary: pools[0]!,
          replicas: { r1: pools[1]! },
          name: 'pools-mariadb-connect',
          probeTimeout: 3_000,
        });
        return { db: db as ReplicaRouter<unknown>, end: () => Promise.all(pools.map((p) => p.end())) };
      },
    },
  ];
  for (const engine of engines) {
    it(`${engine.name}, the connection opens in 300 ms: the replica is eligible`, async () => {
      await engine.ensure();
      const proxy = await pausableProxy(engine.replicaPort);
      const { db, end } = engine.open(proxy.port);
      db.on('error', () => {});
      try {
        proxy.pause();
        const resume = setTimeout(proxy.resume, 300);
        await db.start();
        clearTimeout(resume);
        assert.ok(proxy.accepted() >= 1, 'the probe connected through the proxy');
        assert.equal(db.status()[0]?.eligible, true, `r1: ${db.status()[0]?.reason}`);
      } finally {
        proxy.resume();
        await db.close();
        await end();
        await proxy.close();
      }
    });
  }
});

// A replica that refuses the pool's login (a password rotated there, a role dropped) refuses it
// before the statement is sent: the read is retried elsewhere. Before, it failed with REPLICA_QUERY
// (PostgreSQL 28000, MariaDB 1045) while the primary could serve it. The probe keeps its connection,
// opened before, so only the pool's new connections fail here, as after a rotation.
describe('a replica refusing the login', { timeout: 120_000 }, () => {
  const engines = [
    {
      name: 'PostgreSQL (28000)',
      ensure: ensureSteadyPostgresReplication,
      primaryPort: PG_STEADY_PRIMARY_PORT,
      open() {
        const pool = (port: number) =>
          new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
        const [primary, replica] = [pool(PG_STEADY_PRIMARY_PORT), pool(PG_STEADY_REPLICA_PORT)];
        const db = createPgRouter({ primary, replicas: { r1: replica }, name: 'pools-pg-login' });
        return {
          db: db as ReplicaRouter<unknown>,
          port: (result: unknown) => Number((result as PgResult).rows[0]?.port),
          sql: 'SELECT inet_server_port() AS port',
          breakLogin: () => {
            (replica as unknown as { options: pg.PoolConfig }).options.user = 'scaleplane_no_such_role';
          },
          end: () => Promise.all([primary.end(), replica.end()]),
        };
      },
    },
    {
      name: 'MariaDB (1045)',
      ensure: ensureSteadyMariadbReplication,
      primaryPort: MARIADB_STEADY_PRIMARY_PORT,
      open() {
        const pool = (port: number) =>
          mysql.createPool({
            host: '127.0.0.1',
            port,
            user: 'scaleplane',
            password: 'scaleplane',
            database: 'scaleplane_test',
          });
        const [primary, replica] = [pool(MARIADB_STEADY_PRIMARY_PORT), pool(MARIADB_STEADY_REPLICA_PORT)];
        const db = createMysqlRouter({ primary, replicas: { r1: replica }, name: 'pools-mariadb-login' });
        return {
          db: db as ReplicaRouter<unknown>,
          port: (result: unknown) => Number((result as [RowDataPacket[]])[0][0]?.port),
          sql: 'SELECT @@port AS port',
          breakLogin: () => {
            (
              replica as unknown as { pool: { config: { connectionConfig: { password: string } } } }
            ).pool.config.connectionConfig.password = 'rotated';
          },
          end: () => Promise.all([primary.end(), replica.end()]),
        };
      },
    },
  ];
  for (const engine of engines) {
    it(`${engine.name}: the read is retried on the primary`, async () => {
      await engine.ensure();
      const { db, port, sql, breakLogin, end } = engine.open();
      const retried: ReplicaDecision[] = [];
      db.on('error', () => {});
      db.on('decision', (decision) => decision.kind === 'ReadRetried' && retried.push(decision));
      try {
        await db.start();
        assert.equal(db.status()[0]?.eligible, true, `r1: ${db.status()[0]?.reason}`);
        breakLogin();
        assert.equal(port(await db.query(sql)), engine.primaryPort);
        assert.deepEqual(retried[0]?.reasons, ['REPLICA_CONNECTION', 'primary']);
        // The failure has the probe recheck the replica on a new connection, which is refused as
        // the pool's are. Its own connection, kept from before, went on answering, and the replica
        // stayed eligible: each read that needed a new connection there paid a refused login.
        // The recheck runs after a round under way, if any: at most two rounds.
        for (let round = 0; round < 2 && db.status()[0]?.eligible; round++) await once(db, 'probe');
        const [r1] = db.status();
        assert.deepEqual([r1?.eligible, r1?.reason], [false, 'Unreachable'], 'r1 excluded');
        assert.equal(port(await db.query(sql)), engine.primaryPort);
        assert.equal(retried.length, 1, 'no read paid a refused login again');
      } finally {
        await db.close();
        await end();
      }
    });
  }
});

describe('MariaDB: a full replica pool', { timeout: 120_000 }, () => {
  const pools: Pool[] = [];
  const routers: ReplicaRouter<MysqlResult>[] = [];
  let primary: Pool;

  function pool(port: number, options: PoolOptions = {}): Pool {
    const created = mysql.createPool({
      host: '127.0.0.1',
      port,
      user: 'scaleplane',
      password: 'scaleplane',
      database: 'scaleplane_test',
      ...options,
    });
    pools.push(created);
    return created;
  }

  before(async () => {
    await ensureSteadyMariadbReplication();
    primary = pool(MARIADB_STEADY_PRIMARY_PORT);
  });

  after(async () => {
    await Promise.all(routers.map((router) => router.close()));
    await Promise.all(pools.map((p) => p.end()));
  });

  const port = (result: MysqlResult) => Number((result[0] as RowDataPacket[])[0]?.port);

  // mysql2 refuses a checkout at once, with an Error that has no code: "No connections available."
  // (waitForConnections: false) or "Queue limit reached." (queueLimit). The statement was never sent.
  const cases: { name: string; options: PoolOptions; concurrent: number }[] = [
    {
      name: 'waitForConnections: false',
      options: { connectionLimit: 1, waitForConnections: false },
      concurrent: 1,
    },
    { name: 'queueLimit reached', options: { connectionLimit: 1, queueLimit: 1 }, concurrent: 2 },
  ];
  for (const { name, options, concurrent } of cases) {
    it(`${name}: the refused read is retried elsewhere; the replica and the reads running there stay`, async () => {
      const decisions: ReplicaDecision[] = [];
      const db = createMysqlRouter({
        primary,
        replicas: { r1: pool(MARIADB_STEADY_REPLICA_PORT, options) },
        name: `pools-mariadb-${routers.length}`,
      });
      routers.push(db);
      db.on('error', () => {});
      db.on('decision', (decision) => decisions.push(decision));
      await db.start();
      assert.equal(db.status()[0]?.eligible, true);

      // The first read holds the pool's one connection; with a queue of 1, the second waits for it.
      const slow = db.query('SELECT SLEEP(0.3), @@port AS port');
      const waiting = Array.from({ length: concurrent - 1 }, () => db.query('SELECT @@port AS port'));
      const refused = db.query('SELECT @@port AS port');
      // Before: it failed with REPLICA_QUERY ("r1: No connections available." / "r1: Queue limit
      // reached."), and was not retried although the primary could serve it.
      assert.equal(port(await refused), MARIADB_STEADY_PRIMARY_PORT, 'the refused read ran on the primary');
      assert.equal(
        port(await slow),
        MARIADB_STEADY_REPLICA_PORT,
        'the read running on the replica finished there',
      );
      for (const read of waiting)
        assert.equal(port(await read), MARIADB_STEADY_REPLICA_PORT, 'the queued read ran on the replica');
      await db.probeNow();
      assert.equal(db.status()[0]?.eligible, true, `r1 stays eligible (${db.status()[0]?.reason})`);
      assert.deepEqual(
        decisions.filter((d) => d.kind === 'ReplicaExcluded').map((d) => d.reasons),
        [],
      );
      assert.deepEqual(
        decisions.filter((d) => d.kind === 'ReadRetried').map((d) => d.reasons),
        [['REPLICA_CONNECTION', 'primary']],
      );
      assert.equal(port(await db.query('SELECT @@port AS port')), MARIADB_STEADY_REPLICA_PORT);
    });
  }
});
