// What the MariaDB driver keeps about the primary, across a failover: a private primary (3371) and two
// replicas (3372, 3373), own folder under /tmp, removed after. The primary dies with commits neither
// replica got; 3372 is promoted, 3373 repointed to it, and the primary's address moves to 3372.
// Before, the driver kept the old primary's position history (3373 looked behind by the lost commits'
// age and lost its reads), the heartbeat row key (the old primary's server_id) and whether the
// primary pool's user bypasses read_only (read on the old primary, whose grants may differ).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createMysqlRouter, type ReplicaDecision } from '../../src/replicas/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { mariadbCaughtUp } from './mariadb-caught-up.js';
import { mariadbPool, type PrivateMariadbPair, privateMariadbPair } from './private-mariadb.js';

const PRIMARY_PORT = 3371;
const R1_PORT = 3372;
const R2_PORT = 3373;
const TABLE = 'replicas2_change_t';
const HEARTBEAT = 'replicas2_hb';

describe('MariaDB driver: what it knows of the primary follows a failover', { timeout: 300_000 }, () => {
  let pair: PrivateMariadbPair;
  let admin: { primary: Pool; r1: Pool; r2: Pool };
  let address: Awaited<ReturnType<typeof pausableProxy>>;
  const cleanups: Array<() => Promise<unknown>> = [];
  let now = 1_000_000;
  const clock = { now: () => now };

  function router(name: string, heartbeatTable: string | false) {
    const primary = mariadbPool(address.port, 'scaleplane');
    const r2 = mariadbPool(R2_PORT, 'scaleplane');
    const db = createMysqlRouter({
      primary,
      replicas: { r2 },
      name,
      heartbeatTable,
      clock,
      // No scheduled round: only start() and probeNow() probe.
      probeInterval: 600_000,
      probeTimeout: 5_000,
      maxLag: 5_000,
      holdTime: 0,
    });
    const decisions: ReplicaDecision[] = [];
    db.on('decision', (d) => decisions.push(d));
    db.on('error', () => {});
    cleanups.push(async () => {
      await db.close();
      await Promise.all([primary.end(), r2.end()]);
    });
    return { db, decisions };
  }

  /** roundOnNewPrimary probes until a round reached the promoted server (the first may find the old one's socket gone). */
  async function roundOnNewPrimary(r: ReturnType<typeof router>): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await r.db.probeNow();
      if (
        r.decisions.some(
          (d) =>
            d.kind === 'PrimaryReplaced' ||
            (d.kind === 'PrimaryRestored' && d.reasons.includes('OtherServer')),
        )
      )
        return;
    }
    assert.fail(`no round found the promoted primary: ${r.decisions.map((d) => d.message).join('; ')}`);
  }

  let positions: ReturnType<typeof router>;
  let heartbeat: ReturnType<typeof router>;

  before(async () => {
    pair = await privateMariadbPair('replicas2-change', PRIMARY_PORT, [R1_PORT, R2_PORT]);
    await pair.run(['up']);
    admin = {
      primary: mariadbPool(PRIMARY_PORT, 'root'),
      r1: mariadbPool(R1_PORT, 'root'),
      r2: mariadbPool(R2_PORT, 'root'),
    };
    await admin.primary.query(`CREATE TABLE ${TABLE} (id INT PRIMARY KEY)`);
    // The pool's user may bypass read_only on the server promoted next, not on the primary now:
    // grants are per server (given here without the binlog, as a DBA fixing one host does).
    const dba = await admin.r1.getConnection();
    try {
      await dba.query('SET SESSION sql_log_bin = 0');
      await dba.query("GRANT READ_ONLY ADMIN ON *.* TO 'scaleplane'@'127.0.0.1'");
    } finally {
      dba.release();
    }
    address = await pausableProxy(PRIMARY_PORT);
    cleanups.push(() => address.close());

    positions = router('replicas2-positions', false);
    heartbeat = router('replicas2-heartbeat', HEARTBEAT);
    await positions.db.start();
    await heartbeat.db.start();
    for (const port of [R1_PORT, R2_PORT]) await mariadbCaughtUp(admin.primary, port, `${port} caught up`);

    // Both replicas stop; the primary commits what neither will ever get, and a round records it.
    await admin.r1.query('STOP SLAVE');
    await admin.r2.query('STOP SLAVE');
    await admin.primary.query(`INSERT INTO ${TABLE} VALUES (1)`);
    now += 1_000;
    await positions.db.probeNow();
    await heartbeat.db.probeNow();

    // The failover: the primary dies, 3372 is promoted, 3373 follows it, the address moves.
    await pair.run(['stop-primary']);
    await admin.r1.query('RESET SLAVE ALL');
    await admin.r1.query('SET GLOBAL read_only = 0');
    await admin.r2.query(
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${R1_PORT}, MASTER_USER='repl', MASTER_PASSWORD='scaleplane-repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
    );
    await admin.r2.query('START SLAVE');
    await mariadbCaughtUp(admin.r1, R2_PORT, '3373 follows the promoted 3372');
    address.moveTo(R1_PORT);
    // Well past maxLag since the old primary's lost commit was recorded.
    now += 20_000;
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await Promise.all([admin?.primary.end(), admin?.r1.end(), admin?.r2.end()]);
    await pair?.down();
  });

  it("a replica of the new primary is measured against the new primary's positions, not the old one's lost commits", async () => {
    await roundOnNewPrimary(positions);
    const r2 = positions.db.status().find((s) => s.name === 'r2');
    assert.equal(
      r2?.eligible,
      true,
      `3373 has everything the promoted primary has, yet: ${JSON.stringify(r2)} (${positions.decisions
        .map((d) => d.message)
        .join('; ')})`,
    );
  });

  it("the heartbeat row is keyed by the new primary's server_id", async () => {
    await roundOnNewPrimary(heartbeat);
    const [ids] = (await admin.r1.query('SELECT @@server_id AS id')) as [RowDataPacket[], unknown];
    await heartbeat.db.probeNow();
    // Row 0 is the cluster token, not a heartbeat.
    const [rows] = (await admin.r1.query(
      `SELECT server_id FROM scaleplane_test.${HEARTBEAT} WHERE server_id <> 0 ORDER BY ts DESC LIMIT 1`,
    )) as [RowDataPacket[], unknown];
    assert.equal(
      Number(rows[0]?.server_id),
      Number(ids[0]?.id),
      "the newest heartbeat on the promoted primary is under the old primary's server_id",
    );
  });

  it('a write while the new primary is read_only is refused, its user bypassing read_only there', async () => {
    // Demoted between two rounds: only the driver's own check before the write stands in the way.
    await admin.r1.query('SET GLOBAL read_only = 1');
    await assert.rejects(
      heartbeat.db.write(`INSERT INTO ${TABLE} VALUES (2)`),
      (error: { errno?: number }) => error.errno === 1290,
    );
    const [rows] = (await admin.r1.query(`SELECT COUNT(*) AS n FROM ${TABLE} WHERE id = 2`)) as [
      RowDataPacket[],
      unknown,
    ];
    assert.equal(Number(rows[0]?.n), 0, 'the write committed on the read_only primary');
  });
});
