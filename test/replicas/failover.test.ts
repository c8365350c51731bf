// A MariaDB failover as it happens: the primary turns read_only with its sessions kept, the replica is
// promoted, and the primary's address (a TCP proxy here, as a DNS name or virtual IP) moves to it
// while the connections already open stay on the old server. Also: a replica whose IO thread hears
// nothing, measured without the heartbeat table. A private pair (3361/3362, own folder, removed
// after); its cases run in order, each from the state the one before left.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createMysqlRouter, type ReplicaDecision, type ReplicaError } from '../../src/replicas/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { mariadbCaughtUp } from './mariadb-caught-up.js';
import { mariadbPool, type PrivateMariadbPair, privateMariadbPair } from './private-mariadb.js';
import { nextDecision } from './services.js';

const PRIMARY_PORT = 3361;
const REPLICA_PORT = 3362;
const TABLE = 'failover_t';

// Up to 180 s for `up` on a loaded machine, then the cases and up to 120 s for `down`.
describe('MariaDB failover: a primary demoted with its sessions kept', { timeout: 360_000 }, () => {
  let pair: PrivateMariadbPair | undefined;
  let admin: { primary: Pool; replica: Pool };
  const cleanups: Array<() => Promise<unknown>> = [];

  before(async () => {
    pair = await privateMariadbPair('failover', PRIMARY_PORT, REPLICA_PORT);
    await pair.run(['up']);
    admin = { primary: mariadbPool(PRIMARY_PORT, 'root'), replica: mariadbPool(REPLICA_PORT, 'root') };
    await admin.primary.query(`CREATE TABLE ${TABLE} (id INT PRIMARY KEY, note VARCHAR(40))`);
    await replicated();
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await Promise.all([admin?.primary.end(), admin?.replica.end()]);
    await pair?.down();
  });

  /** replicated waits until the replica has applied everything the primary has. */
  async function replicated(): Promise<void> {
    await mariadbCaughtUp(
      admin.primary,
      REPLICA_PORT,
      'the replica applies the primary’s writes within 30 s',
    );
  }

  async function ids(on: Pool): Promise<number[]> {
    const [rows] = (await on.query(`SELECT id FROM ${TABLE} ORDER BY id`)) as [RowDataPacket[], unknown];
    return rows.map((r) => Number(r.id));
  }

  function router(primary: Pool, replicas: Record<string, Pool>, name: string, extra = {}) {
    // No scheduled round: only start(), probeNow() and what a write causes probe.
    const db = createMysqlRouter({
      primary,
      replicas,
      name,
      probeInterval: 60_000,
      probeTimeout: 2_000,
      ...extra,
    });
    const decisions: ReplicaDecision[] = [];
    const errors: ReplicaError[] = [];
    db.on('decision', (d) => decisions.push(d));
    db.on('error', (e) => errors.push(e));
    cleanups.push(async () => {
      await db.close();
      await Promise.all([primary, ...Object.values(replicas)].map((p) => p.end()));
    });
    return { db, decisions, errors };
  }

  it('without the heartbeat table, a replica whose IO thread hears nothing is excluded past maxLag, not read as 0 behind', async (t) => {
    // The replica replicates through the proxy, which then stalls: its IO thread keeps the connection
    // ("Yes") and Seconds_Behind_Master reads 0, as it does until slave_net_timeout (60 s).
    const link = await pausableProxy(PRIMARY_PORT);
    cleanups.push(() => link.close());
    await admin.replica.query('STOP SLAVE');
    await admin.replica.query(`CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${link.port}`);
    await admin.replica.query('START SLAVE');
    await admin.primary.query(`INSERT INTO ${TABLE} VALUES (1, 'before the stall')`);
    await replicated();

    const { db } = router(
      mariadbPool(PRIMARY_PORT, 'scaleplane'),
      { r1: mariadbPool(REPLICA_PORT, 'scaleplane') },
      'failover-sbm',
      { heartbeatTable: false, probeInterval: 200, maxLag: 1000, holdTime: 0 },
    );
    await db.start();
    assert.equal(db.status()[0]?.eligible, true, `r1 at start: ${JSON.stringify(db.status()[0])}`);

    link.pause();
    const excluded = nextDecision(db, (d) => d.kind === 'ReplicaExcluded' && d.replica === 'r1', 10_000);
    await admin.primary.query(`INSERT INTO ${TABLE} VALUES (2, 'during the stall')`);
    const written = Date.now();
    const decision = await excluded.catch(async (error: Error) => {
      // Replication goes on for the cases after this one.
      link.resume();
      const [[status]] = (await admin.replica.query('SHOW SLAVE STATUS')) as [RowDataPacket[], unknown];
      assert.fail(
        `r1 stayed eligible (${error.message}): ${JSON.stringify(db.status()[0])}; SHOW SLAVE STATUS: IO ${status?.Slave_IO_Running}, Seconds_Behind_Master ${status?.Seconds_Behind_Master}`,
      );
    });
    assert.deepEqual(decision.reasons, ['LagAboveMax'], decision.message);
    t.diagnostic(
      `excluded ${decision.at - written} ms after the first write it missed (maxLag 1000, probe 200)`,
    );
    assert.equal(db.status()[0]?.source, 'gtid-history', 'the lag comes from the position it lacks');
    const [[status]] = (await admin.replica.query('SHOW SLAVE STATUS')) as [RowDataPacket[], unknown];
    assert.equal(String(status?.Seconds_Behind_Master), '0', 'the server itself still says 0 behind');

    const restored = nextDecision(db, (d) => d.kind === 'ReplicaRestored' && d.replica === 'r1', 10_000);
    link.resume();
    await restored;
    await replicated();
  });

  it('the address moves to the promoted replica: writes go there, none to the demoted primary by the connections it kept', async () => {
    const address = await pausableProxy(PRIMARY_PORT);
    cleanups.push(() => address.close());
    const { db, decisions } = router(
      mariadbPool(address.port, 'scaleplane'),
      { r1: mariadbPool(REPLICA_PORT, 'scaleplane') },
      'failover-move',
    );
    await db.start();
    // Four pooled connections to the primary, idle once these return.
    await Promise.all(
      [10, 11, 12, 13].map((id) => db.write(`INSERT INTO ${TABLE} VALUES (?, 'old primary')`, [id])),
    );
    await replicated();

    // The failover: the old primary read_only (its sessions stay), the replica promoted, the address moved.
    await admin.primary.query('SET GLOBAL read_only = 1');
    await admin.replica.query('STOP SLAVE');
    await admin.replica.query('RESET SLAVE ALL');
    await admin.replica.query('SET GLOBAL read_only = 0');
    address.moveTo(REPLICA_PORT);

    // The round reads the role on the probe's connection to the old primary: read-only.
    await db.probeNow();
    assert.ok(
      decisions.some((d) => d.kind === 'PrimaryReadOnly'),
      `the demoted primary is found read-only: ${decisions.map((d) => d.kind).join(', ')}`,
    );
    for (const id of [20, 21, 22, 23, 24])
      await db
        .write(`INSERT INTO ${TABLE} VALUES (?, 'new primary')`, [id])
        .catch((error: Error & { code?: string }) => {
          assert.fail(`write ${id} after the move failed: ${error.code} ${error.message}`);
        });
    assert.deepEqual(
      (await ids(admin.replica)).filter((id) => id >= 20),
      [20, 21, 22, 23, 24],
      'every write after the move is on the new primary',
    );
    assert.deepEqual(
      (await ids(admin.primary)).filter((id) => id >= 20),
      [],
      'none reached the demoted primary',
    );
  });

  it('a write refused as read-only: the next one is refused unsent, and sent again once the primary takes writes', async () => {
    // The new primary (3362) demoted between two rounds, with nothing to tell the router but the write.
    // Writable whatever the case before left.
    await admin.replica.query('SET GLOBAL read_only = 0');
    const { db, decisions } = router(mariadbPool(REPLICA_PORT, 'scaleplane'), {}, 'failover-refused');
    await db.start();
    await db.write(`INSERT INTO ${TABLE} VALUES (30, 'before the demotion')`);
    await admin.replica.query('SET GLOBAL read_only = 1');

    await assert.rejects(
      db.write(`INSERT INTO ${TABLE} VALUES (31, 'refused')`),
      (error: Error & { errno?: number }) => {
        assert.equal(
          error.errno,
          1290,
          `the first write is sent and the server refuses it: ${error.message}`,
        );
        return true;
      },
    );
    const readOnly = decisions.find((d) => d.kind === 'PrimaryReadOnly');
    assert.ok(
      readOnly,
      `the refusal makes the primary read-only at once: ${decisions.map((d) => d.kind).join(', ')}`,
    );
    assert.ok(readOnly.reasons.includes('WriteRefused'), `reasons: ${readOnly.reasons.join(', ')}`);
    await assert.rejects(
      db.write(`INSERT INTO ${TABLE} VALUES (32, 'unsent')`),
      (error: Error & { code?: string }) => {
        assert.equal(
          error.code,
          'REPLICA_PRIMARY_READ_ONLY',
          `the next write is refused before it is sent, not by the server again: ${error.code} ${error.message}`,
        );
        return true;
      },
    );

    await admin.replica.query('SET GLOBAL read_only = 0');
    await db.write(`INSERT INTO ${TABLE} VALUES (33, 'taken again')`);
    assert.deepEqual(
      (await ids(admin.replica)).filter((id) => id >= 30),
      [30, 33],
      'the writes before the demotion and after it took writes again',
    );
  });

  it('a user read_only does not bind (SUPER): said at start, and a demoted primary commits none of its writes', async () => {
    await admin.replica.query('SET GLOBAL read_only = 0');
    const { db, errors } = router(mariadbPool(REPLICA_PORT, 'root'), {}, 'failover-super');
    await db.start();
    assert.ok(
      errors.some((e) => /SUPER, READ_ONLY ADMIN or ALL PRIVILEGES/.test(e.message)),
      `no report that read_only does not bind the user: ${errors.map((e) => e.message).join('; ')}`,
    );
    await db.write(`INSERT INTO ${TABLE} VALUES (40, 'writable')`);

    // Demoted between two rounds: the server would commit this user's writes.
    await admin.replica.query('SET GLOBAL read_only = 1');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${TABLE} VALUES (41, 'in a transaction')`);
      }),
      (error: Error & { errno?: number }) => error.errno === 1290,
      'the transaction is rolled back, not committed on the demoted primary',
    );
    await admin.replica.query('SET GLOBAL read_only = 0');
    await db.write(`INSERT INTO ${TABLE} VALUES (42, 'writable again')`);
    await admin.replica.query('SET GLOBAL read_only = 1');
    await assert.rejects(
      db.write(`INSERT INTO ${TABLE} VALUES (43, 'autocommit')`),
      (error: Error & { errno?: number }) => error.errno === 1290,
      'the write is refused, not committed on the demoted primary',
    );
    await admin.replica.query('SET GLOBAL read_only = 0');
    assert.deepEqual(
      (await ids(admin.replica)).filter((id) => id >= 40),
      [40, 42],
      'nothing was committed while the primary was read_only',
    );
  });
});
