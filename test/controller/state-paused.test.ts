// A state store whose database stops answering (SIGSTOP, a partition: the TCP connection stays open,
// nothing comes back), simulated by a proxy in front of the real Redis / PostgreSQL that stops
// forwarding. Every call must fail within a bound, not hang: the leader's scale-in awaits the
// "draining" record before it drains, and the journal's writes run one after another.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { PostgresState, RedisState } from '../../src/controller/state/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { dropPostgresState, dropRedisState } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';

const BACKENDS = [
  {
    name: 'redis',
    port: 6379,
    open: (port: number) =>
      new RedisState({
        url: `redis://127.0.0.1:${port}`,
        name: `paused-${process.pid}`,
        commandTimeout: 1000,
      }),
  },
  {
    name: 'postgres',
    port: 5432,
    open: (port: number) =>
      new PostgresState({
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        name: `paused_${process.pid}`,
        queryTimeout: 1000,
      }),
  },
];

describe('state store whose database stops answering', () => {
  after(async () => {
    await dropRedisState(`paused-${process.pid}`);
    await dropPostgresState(`paused_${process.pid}`);
  });
  for (const backend of BACKENDS) {
    it(`${backend.name}: a write fails within the timeout instead of hanging, and works after resume`, async () => {
      const proxy = await pausableProxy(backend.port);
      const state = backend.open(proxy.port);
      after(async () => {
        proxy.resume();
        await state.close().catch(() => {});
        await proxy.close();
      });
      await state.connect();
      await state.saveDesired('web', 2);

      proxy.pause();
      const started = performance.now();
      // Bounded here so that a hang fails the test (at 10 s) instead of stalling the run.
      const outcome = await Promise.race([
        state.saveDesired('web', 3).then(
          () => 'answered',
          (err: Error) => `failed: ${err.message}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000)),
      ]);
      const ms = Math.round(performance.now() - started);
      console.log(`[${backend.name}] paused database: saveDesired → ${outcome} after ${ms} ms`);
      assert.match(outcome, /^failed: /);
      assert.ok(ms < 4_000, `failed after ${ms} ms (timeout 1 s)`);

      proxy.resume();
      if (backend.name === 'postgres') {
        // The timed-out query was already sent: the database runs it once it answers again, on the
        // connection the pool dropped (a later write on a new connection could land before it).
        // Redis keeps its connection, so its commands stay in order.
        await until(proxy.pausedClosed, 10_000, 'the timed-out connection closed');
      }
      await state.saveDesired('web', 4);
      assert.equal((await state.load()).desired.web, 4);
    });
  }

  /** behindProxy opens a PostgreSQL state store through a pausable proxy, closed after the test. */
  async function behindProxy() {
    const proxy = await pausableProxy(5432);
    const state = BACKENDS[1]!.open(proxy.port);
    after(async () => {
      proxy.resume();
      await state.close().catch(() => {});
      await proxy.close();
    });
    await state.connect();
    return { proxy, state };
  }

  /** reopened is a fresh PostgreSQL state store straight to the server: what a restart reads. */
  async function reopened() {
    const restarted = BACKENDS[1]!.open(5432);
    after(() => restarted.close());
    await restarted.connect();
    return restarted;
  }

  it('postgres: a timed-out write the server runs later does not overwrite a newer one', async () => {
    // Before: the write of 3 timed out on a stalled connection; 4 went through a new one; when the
    // stalled backend went on it ran the UPSERT of 3, and a restart would have loaded 3, not 4.
    const { proxy, state } = await behindProxy();
    await state.saveDesired('web', 2);

    // The stall strikes while the UPSERT of 3 is on its way (after anything a write sends before it).
    proxy.holdOn('INSERT INTO');
    await assert.rejects(state.saveDesired('web', 3), /timeout/i);
    // The pool drops the timed-out connection; its UPSERT still sits in the stalled backend's buffer.
    await until(proxy.pausedClosed, 10_000, 'the timed-out connection closed');
    await state.saveDesired('web', 4);
    assert.equal((await state.load()).desired.web, 4);

    proxy.resume();
    // The held UPDATE reaches PostgreSQL now, then the client's Terminate: the backend runs it and
    // exits. A fresh store (a restart) then reads what it left.
    await until(proxy.heldServed, 10_000, 'the stalled backend ran what it was sent and closed');
    const restarted = await reopened();
    assert.equal((await restarted.load()).desired.web, 4, 'the older write (3) overwrote the newer (4)');
  });

  it('postgres: a timed-out put the server runs later does not bring back a removed instance', async () => {
    // Before: the put (marking web-1 draining) timed out on a stalled connection; the remove (web-1
    // stopped) went through a new one; the stalled backend then ran the put, and a successor found
    // web-1 recorded again and tried to adopt an instance that was gone.
    const { proxy, state } = await behindProxy();
    const record = { id: 'web-1', pid: 4242, port: 31000, startTime: 99, startedAt: 1_000 };
    await state.put('late', record);

    proxy.holdOn('INSERT INTO');
    await assert.rejects(state.put('late', { ...record, draining: true }), /timeout/i);
    await until(proxy.pausedClosed, 10_000, 'the timed-out connection closed');
    await state.remove('late', record.id);
    assert.deepEqual(await state.list('late'), []);

    proxy.resume();
    await until(proxy.heldServed, 10_000, 'the stalled backend ran what it was sent and closed');
    const restarted = await reopened();
    assert.deepEqual(await restarted.list('late'), [], 'the late put brought the removed instance back');
    // A put decided after the remove (a new instance of the same id) still goes through.
    await restarted.put('late', { ...record, pid: 4343 });
    assert.deepEqual(
      (await restarted.list('late')).map((r) => r.pid),
      [4343],
    );
  });

  it('redis: a timed-out write stays ahead of a newer one (one connection, in order)', async () => {
    // Checked for the PostgreSQL defect above; not present: ioredis keeps its one connection after a
    // command timeout, so the newer write is sent behind the older one and Redis runs them in order.
    const proxy = await pausableProxy(6379);
    const state = BACKENDS[0]!.open(proxy.port);
    after(async () => {
      proxy.resume();
      await state.close().catch(() => {});
      await proxy.close();
    });
    await state.connect();
    await state.saveDesired('web', 2);
    proxy.pause();
    await assert.rejects(state.saveDesired('web', 3), /timed out/);
    const newer = state.saveDesired('web', 4);
    proxy.resume();
    await newer.catch(() => {});
    assert.equal(proxy.accepted(), 1, 'one connection');
    assert.equal((await state.load()).desired.web, 4);
  });
});
