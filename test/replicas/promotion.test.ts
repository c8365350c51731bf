// The router's primary is an address that follows the failover (a virtual IP, a DNS name, a proxy
// such as HAProxy checking the role: here a TCP proxy the test moves). It led to a standby, so the
// router refused writes; once it leads to a writable server, a write goes there at once, as ProxySQL
// moves its writer when read_only changes, not a probe interval later. Never to the read-only server:
// a write while the address still leads there is refused before it is sent. The steady pairs
// (PostgreSQL 5443/5444, MariaDB 3343/3344), nothing written: the "writes" read the server's port.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';
import {
  createMysqlRouter,
  createPgRouter,
  type ReplicaDecision,
  type ReplicaRouter,
} from '../../src/replicas/index.js';
import {
  ensureSteadyMariadbReplication,
  ensureSteadyPostgresReplication,
  MARIADB_STEADY_PRIMARY_PORT,
  MARIADB_STEADY_REPLICA_PORT,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

/**
 * movableProxy forwards each new connection to `target`; moveTo() points it elsewhere and cuts the
 * connections open to the old server, as a failover does (the old primary's sessions are gone).
 */
async function movableProxy(target: number) {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    moveTo(port: number) {
      target = port;
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Engine {
  name: string;
  primaryPort: number;
  standbyPort: number;
  ensure(): Promise<void>;
  /** A router whose primary is reached on `primaryPort`, r1 the standby; and a way to end its pools. */
  open(primaryPort: number, name: string): { db: ReplicaRouter<unknown>; end(): Promise<void> };
  /** The port of the server a `db.write()` ran on. */
  writePort(db: ReplicaRouter<unknown>): Promise<number>;
}

// No scheduled round during the test: only start() and what a write causes probe.
const ROUTER = { probeInterval: 60_000, probeTimeout: 2_000 };

const postgres: Engine = {
  name: 'PostgreSQL',
  primaryPort: PG_STEADY_PRIMARY_PORT,
  standbyPort: PG_STEADY_REPLICA_PORT,
  ensure: ensureSteadyPostgresReplication,
  open(primaryPort, name) {
    const pool = (port: number) => {
      const p = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 4 });
      p.on('error', () => {});
      return p;
    };
    const primary = pool(primaryPort);
    const replica = pool(PG_STEADY_REPLICA_PORT);
    const db = createPgRouter({ primary, replicas: { r1: replica }, name, ...ROUTER });
    return {
      db: db as ReplicaRouter<unknown>,
      end: () => Promise.all([primary.end(), replica.end()]).then(() => undefined),
    };
  },
  async writePort(db) {
    const result = (await db.write('SELECT inet_server_port() AS port')) as pg.QueryResult;
    return Number(result.rows[0]?.port);
  },
};

const mariadb: Engine = {
  name: 'MariaDB',
  primaryPort: MARIADB_STEADY_PRIMARY_PORT,
  standbyPort: MARIADB_STEADY_REPLICA_PORT,
  ensure: ensureSteadyMariadbReplication,
  open(primaryPort, name) {
    const pool = (port: number) =>
      mysql.createPool({
        host: '127.0.0.1',
        port,
        user: 'scaleplane',
        password: 'scaleplane',
        database: 'scaleplane_test',
        connectionLimit: 4,
      });
    const primary = pool(primaryPort);
    const replica = pool(MARIADB_STEADY_REPLICA_PORT);
    const db = createMysqlRouter({ primary, replicas: { r1: replica }, name, ...ROUTER });
    return {
      db: db as ReplicaRouter<unknown>,
      end: () => Promise.all([primary.end(), replica.end()]).then(() => undefined),
    };
  },
  async writePort(db) {
    const [rows] = (await db.write('SELECT @@port AS port')) as [RowDataPacket[]];
    return Number(rows[0]?.port);
  },
};

for (const engine of [postgres, mariadb]) {
  describe(`${engine.name}: the primary's address moves from the standby to the primary`, {
    timeout: 120_000,
  }, () => {
    let proxy: Awaited<ReturnType<typeof movableProxy>>;
    let db: ReplicaRouter<unknown>;
    let end: () => Promise<void>;

    before(async () => {
      await engine.ensure();
      proxy = await movableProxy(engine.standbyPort);
      ({ db, end } = engine.open(proxy.port, `promotion-${engine.name.toLowerCase()}`));
      db.on('error', () => {});
    });

    after(async () => {
      await db?.close();
      await end?.();
      await proxy?.close();
    });

    it('a write goes to the new primary at once, and is refused, never sent, while it leads to the standby', async () => {
      const decisions: ReplicaDecision[] = [];
      db.on('decision', (d) => decisions.push(d));
      await db.start();
      assert.ok(
        decisions.some((d) => d.kind === 'PrimaryReadOnly'),
        `the standby behind the address is found read-only: ${decisions.map((d) => d.kind).join(', ')}`,
      );
      // Sent, this SELECT would run on the standby and answer its port: refused, it was not sent.
      await assert.rejects(engine.writePort(db), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'REPLICA_PRIMARY_READ_ONLY', `${error.code}: ${error.message}`);
        return true;
      });

      proxy.moveTo(engine.primaryPort);
      const port = await engine.writePort(db);
      assert.equal(port, engine.primaryPort, `the first write after the move ran on ${port}`);
      assert.ok(
        decisions.some((d) => d.kind === 'PrimaryWritable'),
        `no PrimaryWritable decision: ${decisions.map((d) => d.kind).join(', ')}`,
      );

      // Back to the standby (a write sent before a round knows reaches it, as with ProxySQL between
      // two read_only checks; the server refuses it). The first round finds the probe's connection
      // cut and drops it, the second reads the role on a new one.
      proxy.moveTo(engine.standbyPort);
      await db.probeNow();
      await db.probeNow();
      assert.equal(
        decisions.filter((d) => d.kind === 'PrimaryReadOnly').length,
        2,
        `read-only again: ${decisions.map((d) => d.kind).join(', ')}`,
      );
      await assert.rejects(
        engine.writePort(db),
        (error: Error & { code?: string }) => error.code === 'REPLICA_PRIMARY_READ_ONLY',
        'back on the standby, writes are refused again',
      );
    });
  });
}
