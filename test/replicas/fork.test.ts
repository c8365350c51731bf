// A MariaDB replica on a forked history: MariaDB compares GTIDs by sequence number within a domain
// (MASTER_GTID_WAIT, Vitess), which is right along one history and blind across a fork. A private
// primary (3381) and two replicas (3382, 3383), own folder under /tmp, removed after: 3382 is
// promoted, 3383 still follows 3381, which nobody fenced and which goes on taking writes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createMysqlRouter, mariadbCovers, mariadbHasWrite } from '../../src/replicas/index.js';
import { mariadbCaughtUp } from './mariadb-caught-up.js';
import { mariadbPool, type PrivateMariadbPair, privateMariadbPair } from './private-mariadb.js';

const OLD_PRIMARY = 3381;
const PROMOTED = 3382;
const LEFT = 3383;
const TABLE = 'replicas_fork_t';
const HEARTBEAT_BEFORE = 'replicas_fork_hb_before';

describe('mariadbCovers and mariadbHasWrite', () => {
  // [replayed, write, covers (by sequence), has the write (same server)]
  const cases: Array<[string, string, boolean, boolean]> = [
    ['0-1-105', '0-1-100', true, true],
    ['0-1-100', '0-1-100', true, true],
    ['0-1-99', '0-1-100', false, false],
    // The sequence goes on under the promoted replica's server_id: as far along, by MariaDB's order.
    ['0-2-110', '0-1-105', true, false],
    // Forked: the old primary's 105 is not the new primary's 103, nor its 105.
    ['0-1-105', '0-2-103', true, false],
    ['0-1-105', '0-2-105', true, false],
    ['0-2-7,1-3-9', '0-2-7,1-3-8', true, true],
    ['0-2-7', '0-2-7,1-3-8', false, false],
  ];
  for (const [replayed, write, covers, has] of cases)
    it(`${replayed} against ${write}`, () => {
      assert.equal(mariadbCovers(replayed, write), covers, `covers(${replayed}, ${write})`);
      assert.equal(mariadbHasWrite(replayed, write), has, `hasWrite(${replayed}, ${write})`);
    });
});

describe('MariaDB: a replica still following the old primary after a promotion', { timeout: 300_000 }, () => {
  let pair: PrivateMariadbPair;
  let admin: { old: Pool; promoted: Pool; left: Pool };
  const closers: Array<() => Promise<unknown>> = [];
  let now = 1_000_000;
  const clock = { now: () => now };

  /** seqOf is the highest sequence number of domain 0 in a MariaDB position. */
  const seqOf = (position: string) =>
    Math.max(
      ...position
        .split(',')
        .filter((gtid) => gtid.trim().startsWith('0-'))
        .map((gtid) => Number(gtid.trim().split('-')[2])),
    );

  async function variable(pool: Pool, name: string): Promise<string> {
    const [rows] = await pool.query<RowDataPacket[]>(`SELECT @@GLOBAL.${name} AS v`);
    return String(rows[0]?.v ?? '');
  }

  /** router makes a router on `primary` with 3383 as its replica, on an injected clock. */
  function router(name: string, primaryPort: number, heartbeatTable: string) {
    const primary = mariadbPool(primaryPort, 'scaleplane');
    const r2 = mariadbPool(LEFT, 'scaleplane');
    const db = createMysqlRouter({
      primary,
      replicas: { r2 },
      name,
      heartbeatTable,
      clock,
      probeInterval: 60_000,
      probeTimeout: 5_000,
      maxLag: 5_000,
      holdTime: 0,
    });
    db.on('error', () => {});
    const close = async () => {
      await db.close();
      await Promise.all([primary.end(), r2.end()]);
    };
    closers.push(close);
    return { db, close };
  }

  before(async () => {
    pair = await privateMariadbPair('replicas-fork', OLD_PRIMARY, [PROMOTED, LEFT]);
    await pair.run(['up']);
    admin = {
      old: mariadbPool(OLD_PRIMARY, 'root'),
      promoted: mariadbPool(PROMOTED, 'root'),
      left: mariadbPool(LEFT, 'root'),
    };
    await admin.old.query(`CREATE TABLE ${TABLE} (id INT PRIMARY KEY)`);
    // A router ran on 3381 before the failover: its heartbeat table and cluster token are on both replicas.
    const before = router('replicas-fork-before', OLD_PRIMARY, HEARTBEAT_BEFORE);
    await before.db.start();
    await before.close();
    for (const port of [PROMOTED, LEFT]) await mariadbCaughtUp(admin.old, port, `${port} caught up`);
    // The failover: 3382 is promoted; 3381 goes on taking writes, which 3383 applies, so 3383's
    // sequence numbers run ahead of anything 3382 writes in this test.
    await admin.promoted.query('STOP SLAVE');
    await admin.promoted.query('RESET SLAVE ALL');
    await admin.promoted.query('SET GLOBAL read_only = 0');
    for (let id = 1000; id < 1100; id++) await admin.old.query(`INSERT INTO ${TABLE} VALUES (?)`, [id]);
    await mariadbCaughtUp(admin.old, LEFT, '3383 applies what 3381 took after the promotion');
  });

  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await Promise.all([admin?.old.end(), admin?.promoted.end(), admin?.left.end()]);
    await pair?.down();
  });

  it("a session's read after its write on the new primary does not go to it", async () => {
    const { db } = router('replicas-fork', PROMOTED, 'replicas_fork_hb');
    await db.start();
    await db.session(async () => {
      await db.write(`INSERT INTO ${TABLE} VALUES (1)`);
      const [result] = await db.query(
        `SELECT @@port AS port, (SELECT COUNT(*) FROM ${TABLE} WHERE id = 1) AS has FROM DUAL`,
      );
      const rows = result as RowDataPacket[];
      const written = await variable(admin.promoted, 'gtid_binlog_pos');
      const left = await variable(admin.left, 'gtid_slave_pos');
      assert.ok(
        seqOf(left) > seqOf(written),
        `3383 (${left}) is ahead of the write (${written}) by sequence number, as the case needs`,
      );
      assert.equal(
        Number(rows[0]?.has),
        1,
        `the session's read went to ${rows[0]?.port} (3383 at ${left}) and missed its write at ${written}: ${JSON.stringify(db.status())}`,
      );
    });
  });

  it("without the new primary's heartbeat row it reads as behind since that row was first written, and loses its reads", async () => {
    // The table and the token came before the failover: only the row under 3382's server_id is missing.
    const { db } = router('replicas-fork-lag', PROMOTED, HEARTBEAT_BEFORE);
    await db.start();
    await admin.promoted.query(`INSERT INTO ${TABLE} VALUES (2)`);
    now += 10_000;
    await db.probeNow();
    const [r2] = db.status();
    assert.equal(
      r2?.eligible,
      false,
      `10 s without the new primary's heartbeat, r2 gets no reads: ${JSON.stringify(r2)}`,
    );
    assert.equal(r2?.source, 'heartbeat-missing', `the status says why: ${JSON.stringify(r2)}`);
    const [result] = await db.query(
      `SELECT @@port AS port, (SELECT COUNT(*) FROM ${TABLE} WHERE id = 2) AS has FROM DUAL`,
    );
    const rows = result as RowDataPacket[];
    assert.equal(
      Number(rows[0]?.has),
      1,
      `the read went to ${rows[0]?.port} and missed a write made 10 s before`,
    );
  });
});
