// The leader lease's safety margins, on real Redis and PostgreSQL: a leader stops acting BEFORE the
// store can expire its lease (renew deadline < ttl, from when the renewal was sent), a leader
// resumed after a pause finds its tenure over before any timer of its own runs, and a Redis that
// lost the lease's latest writes (a replica promoted before they reached it) cannot let the old
// leader pass the fence with the token handed out again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Registry } from 'prom-client';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  LeaderElector,
  Leadership,
  type LeaseGrant,
  type LeaseStore,
  PostgresLease,
  RedisLease,
} from '../../src/controller/index.js';
import { PostgresState, RedisState, type StateError } from '../../src/controller/state/index.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { dropPostgresState, PG_URL, REDIS_URL } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';

const silent = { info() {}, warn() {}, error() {} };

interface Opened {
  store: LeaseStore;
  /** A second connection to the same lease, to see what the server holds. */
  observer: LeaseStore;
  cleanup(): Promise<void>;
}

const BACKENDS: { name: string; open(): Promise<Opened> }[] = [
  {
    name: 'redis',
    async open() {
      const name = `lease-safety-${randomBytes(4).toString('hex')}`;
      const store = new RedisLease({ url: REDIS_URL, name });
      const observer = new RedisLease({ url: REDIS_URL, name });
      await Promise.all([store.connect(), observer.connect()]);
      return {
        store,
        observer,
        async cleanup() {
          await Promise.all([store.close(), observer.close()]);
          const redis = new Redis(REDIS_URL);
          await redis.del(`${name}:leader`, `${name}:fencing-token`);
          await redis.quit();
        },
      };
    },
  },
  {
    name: 'postgres',
    async open() {
      const name = `lease_safety_${randomBytes(4).toString('hex')}`;
      const store = new PostgresLease({ url: PG_URL, name });
      const observer = new PostgresLease({ url: PG_URL, name });
      await store.connect();
      await observer.connect();
      return {
        store,
        observer,
        async cleanup() {
          await Promise.all([store.close(), observer.close()]);
          const client = new pg.Client(PG_URL);
          await client.connect();
          await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(`${name}_lease`)}`);
          await client.end();
        },
      };
    },
  },
];

/**
 * hangingRenewals is `store` whose renewals never answer until `unblock()`, as a connection to a
 * store that stopped answering (Redis hung, a proxy that holds the packets): the leader cannot
 * learn anything, only its own deadline can depose it.
 */
function hangingRenewals(store: LeaseStore): { store: LeaseStore; unblock(): void } {
  let unblock = () => {};
  const blocked = new Promise<void>((resolve) => {
    unblock = resolve;
  });
  const hung: LeaseStore = {
    backend: store.backend,
    acquire: (holder, ttl) => store.acquire(holder, ttl),
    renew: async () => {
      await blocked;
      return false;
    },
    release: (grant) => store.release(grant),
    check: (grant) => store.check(grant),
    current: () => store.current(),
    close: () => store.close(),
  };
  return { store: hung, unblock: () => unblock() };
}

/** pause blocks this whole process (its event loop and timers) until `until` on the monotonic clock, as GC or SIGSTOP would. */
function pause(untilMs: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let left = untilMs - performance.now(); left > 0; left = untilMs - performance.now())
    Atomics.wait(cell, 0, 0, left);
}

/** leadershipOver builds a Leadership around an elector on `store`, with a controller of no group. */
function leadershipOver(
  store: LeaseStore,
  elector: LeaderElector,
): { leadership: Leadership; close(): Promise<void> } {
  const journal = new DecisionJournal();
  const controller = new Controller({
    config: { controller: { interval: 60_000, journalSize: 100 }, groups: {} } as unknown as Config,
    journal,
    logger: silent,
    backends: () => [],
    groups: [],
  });
  const leadership = new Leadership({
    elector,
    lease: store,
    controller,
    journal,
    state: undefined,
    providers: new Map(),
    registry: new Registry(),
    logger: silent,
  });
  return {
    leadership,
    async close() {
      await leadership.close();
      controller.close();
    },
  };
}

for (const backend of BACKENDS) {
  describe(`${backend.name} lease: the leader stops before its lease can expire`, () => {
    it('a leader whose store stops answering is deposed while the store still holds its lease', async (t) => {
      const { store, observer, cleanup } = await backend.open();
      const hung = hangingRenewals(store);
      const ttl = 3000;
      const elector = new LeaderElector({ store: hung.store, holder: `hung-${backend.name}`, ttl });
      t.after(async () => {
        hung.unblock();
        await elector.close();
        await cleanup();
      });
      const elected = once(elector, 'elected');
      await elector.start();
      const [grant] = (await elected) as [LeaseGrant];
      // The first renewal hangs for good: nothing but the elector's own deadline can depose it.
      await once(elector, 'deposed');
      // Right then, the store must still hold the lease, with a margin: no successor can have been
      // elected yet, so nothing the leader did up to here can overlap a successor's actions.
      const held = await observer.current();
      assert.ok(
        held?.token === grant.token && held.holder === grant.holder,
        `deposed only once the store had let the lease go (now ${JSON.stringify(held)})`,
      );
      assert.equal(
        await observer.check(grant),
        true,
        'the store still holds the lease when the leader stands down',
      );
    });

    it('a leader resumed after a pause past its renew deadline finds its tenure over before any timer runs', async (t) => {
      const { store, observer, cleanup } = await backend.open();
      const ttl = 6000;
      const elector = new LeaderElector({ store, holder: `paused-${backend.name}`, ttl });
      const { leadership, close } = leadershipOver(store, elector);
      t.after(async () => {
        await close();
        await cleanup();
      });
      await leadership.start();
      const grant = leadership.grant;
      assert.ok(grant, 'the only candidate leads');
      // Every renewal so far was sent before this instant: the local deadline (2/3 of the ttl after
      // the last one) has passed once the pause ends, the store's expiry (a whole ttl after it
      // reached the store) has not.
      const resumedAt = performance.now();
      pause(resumedAt + (ttl * 2) / 3 + 50);
      // Synchronously after the pause, as a loop tick or an instance start due before the watchdog's
      // timer would run: they must see no tenure (the fence then refuses without asking the store).
      const leading = leadership.leading;
      const after = leadership.grant;
      assert.equal(leading, false, 'a leader resumed past its renew deadline does not lead');
      assert.equal(after, undefined, 'nor does it offer its tenure to a fence check');
      assert.equal(
        await observer.check(grant),
        true,
        "the store would still have passed the old leader's fence check",
      );
    });
  });
}

for (const backend of BACKENDS) {
  describe(`${backend.name} lease: a fence check answered late`, () => {
    it('refuses once the renew deadline passed while the store answered', async (t) => {
      const { store, observer, cleanup } = await backend.open();
      const ttl = 6000;
      let slowUntil: number | undefined;
      // The store answers the fence's check, then takes until `slowUntil` to deliver it, as a
      // loaded store or network does (within the call's timeout).
      const slow: LeaseStore = {
        backend: store.backend,
        acquire: (holder, ms) => store.acquire(holder, ms),
        renew: (grant, ms) => store.renew(grant, ms),
        release: (grant) => store.release(grant),
        check: async (grant) => {
          const held = await store.check(grant);
          if (slowUntil !== undefined) pause(slowUntil);
          return held;
        },
        current: () => store.current(),
        close: () => store.close(),
      };
      const elector = new LeaderElector({ store, holder: `late-${backend.name}`, ttl });
      const { leadership, close } = leadershipOver(slow, elector);
      t.after(async () => {
        await close();
        await cleanup();
      });
      await leadership.start();
      const grant = leadership.grant;
      assert.ok(grant, 'the only candidate leads');
      assert.equal(await leadership.holds(grant.token), true, 'a check answered at once passes');
      // Every renewal so far was sent before now; the answer comes once the deadline has passed.
      slowUntil = performance.now() + (ttl * 2) / 3 + 50;
      assert.equal(
        await leadership.holds(grant.token),
        false,
        'a check answered past the renew deadline refuses',
      );
      assert.equal(await observer.check(grant), true, 'though the store still held the lease');
    });
  });
}

describe('redis lease: a store that lost its latest writes', () => {
  it('does not let the old leader pass the fence with the token handed out again', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const name = 'lease-failover';
    const old = new RedisLease({ url: server.url, name });
    const next = new RedisLease({ url: server.url, name });
    // Each leader's state store in the lease's Redis: its writes are fenced by the store itself.
    const oldState = new RedisState({ url: server.url, name, lease: name });
    const nextState = new RedisState({ url: server.url, name, lease: name });
    after(async () => {
      await Promise.all([old.close(), next.close(), oldState.close(), nextState.close()]);
      await server.kill();
    });
    await Promise.all([old.connect(), next.connect(), oldState.connect(), nextState.connect()]);
    const first = await old.acquire('old-leader', 60_000);
    assert.ok(first, 'the old leader holds the lease');
    assert.equal(await old.check(first), true, 'the old leader passes its fence');
    oldState.fence(first.token, first.holder);
    await oldState.saveDesired('web', 2);
    // The failover: what now answers at the lease's address never received the lease's SET nor the
    // counter's INCR (an asynchronous replica promoted before they reached it). A restart with no
    // persistence leaves exactly that.
    await server.kill();
    await server.start();
    // Both clients reconnect on their own; the new leader's first acquisition after that wins.
    let second: LeaseGrant | undefined;
    await until(
      async () => {
        second = await next.acquire('new-leader', 60_000).catch(() => undefined);
        return second !== undefined;
      },
      10_000,
      'the new leader wins the lost lease',
    );
    assert.ok(second, 'second');
    assert.equal(second.token, first.token, 'the counter was lost too: the same token is handed out again');
    await until(
      async () => (await old.current().catch(() => 'down')) !== 'down',
      10_000,
      "the old leader's connection is back",
    );
    assert.equal(await old.check(first), false, 'the old leader, holding the same token, is fenced');
    assert.equal(await next.check(second), true, 'the new leader passes');
    assert.equal(await old.renew(first, 60_000), false, 'nor can the old leader renew');
    // The state writes: the counter holds the reused token, the lease key the new tenure.
    nextState.fence(second.token, second.holder);
    await nextState.saveDesired('web', 5);
    await assert.rejects(
      oldState.saveDesired('web', 3),
      (err: StateError) => err.code === 'STATE_FENCED',
      "the old leader's state write is refused",
    );
    assert.equal((await nextState.load()).desired.web, 5, "the new leader's desired count stands");
  });
});

describe('postgres lease: a lease row that lost its latest writes', () => {
  it("refuses the old leader's state writes under the token handed out again", async () => {
    const name = `lease_lost_${randomBytes(4).toString('hex')}`;
    const old = new PostgresLease({ url: PG_URL, name });
    const next = new PostgresLease({ url: PG_URL, name });
    const oldState = new PostgresState({ url: PG_URL, name, lease: name });
    const nextState = new PostgresState({ url: PG_URL, name, lease: name });
    const admin = new pg.Client(PG_URL);
    after(async () => {
      await Promise.all([old.close(), next.close(), oldState.close(), nextState.close()]);
      await admin.end();
      await dropPostgresState(name);
    });
    await Promise.all([
      old.connect(),
      next.connect(),
      oldState.connect(),
      nextState.connect(),
      admin.connect(),
    ]);
    const first = await old.acquire('old-leader', 60_000);
    assert.ok(first, 'the old leader holds the lease');
    oldState.fence(first.token, first.holder);
    await oldState.saveDesired('web', 2);
    // The lease row's latest writes are lost: an asynchronous standby (Patroni's default) promoted
    // before the row reached it, or the row deleted by hand. The next acquisition inserts it afresh.
    await admin.query(`DELETE FROM ${pg.escapeIdentifier(`${name}_lease`)}`);
    const second = await next.acquire('new-leader', 60_000);
    assert.ok(second, 'the new leader wins the lost lease');
    assert.equal(second.token, first.token, 'the same token is handed out again');
    assert.equal(await old.check(first), false, 'the old leader, holding the same token, fails its fence');
    nextState.fence(second.token, second.holder);
    await nextState.saveDesired('web', 5);
    await nextState.put('web', { id: 'web-1', pid: 4242, port: 31000, startTime: 99, startedAt: 1_000 });
    await assert.rejects(
      oldState.saveDesired('web', 3),
      (err: StateError) => err.code === 'STATE_FENCED',
      "the old leader's desired count went through under the new leader's token",
    );
    await assert.rejects(
      oldState.remove('web', 'web-1'),
      (err: StateError) => err.code === 'STATE_FENCED',
      "the old leader removed the new leader's instance record",
    );
    assert.equal((await nextState.load()).desired.web, 5, "the new leader's desired count was overwritten");
    assert.equal((await nextState.list('web')).length, 1, "the new leader's instance record is gone");
  });
});
