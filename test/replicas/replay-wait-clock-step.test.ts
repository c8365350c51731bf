// A session's read after its write waits up to readYourWrites.waitTimeout (20 ms) for a replica to
// replay the write (PgDriver.checkReplayed), polling every 2 ms. The wait was timed on Date.now: a
// step back of the system clock (NTP, a VM resumed, `date -s`) during it kept the read polling the
// replica for as long as the step. Date.now is replaced here; performance.now is left alone. The
// shared PostgreSQL (5432) stands in for the replica: not in recovery, it replays nothing, so the
// wait runs to its timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { PgDriver } from '../../src/replicas/postgres/driver.js';

test('a step back of the clock during a wait for replay does not prolong it', async (t) => {
  const pool = () =>
    new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', max: 2 });
  const primary = pool();
  const replica = pool();
  const driver = new PgDriver({ primary, replicas: { r1: replica } });
  const real = Date.now;
  t.after(async () => {
    Date.now = real;
    await driver.close();
    await Promise.all([primary.end(), replica.end()]);
  });
  // Connected before the wait: its first poll is a query, not a connection.
  await replica.query('SELECT 1');
  const waiting = driver.checkReplayed('r1', 'FFFFFFFF/0', 50);
  Date.now = () => real() - 3_600_000;
  const outcome = await Promise.race([waiting, delay(5_000).then(() => 'still polling after 5 s')]);
  Date.now = real;
  assert.deepEqual(outcome, { replayed: false, position: null }, 'the 50-ms wait ends unreplayed');
});
