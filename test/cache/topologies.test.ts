// The cache on Redis Sentinel (with a failover) and on a 3-master Redis Cluster, each started by this
// test on free ports and torn down at the end. Every wait on an event is bounded: a missed
// notice fails with its name instead of hanging the file until the runner's 5-minute timeout.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { type Cache, type CacheOptions, createCache } from '../../src/cache/index.js';
import { within } from '../helpers/until.js';
import { uniquePrefix } from './helpers.js';
import {
  type ClusterSetup,
  type Endpoint,
  type SentinelSetup,
  startCluster,
  startSentinel,
} from './topologies.js';

async function eventually(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await delay(25);
  }
  return Date.now() - started;
}

function user(id: number) {
  return { id, name: `User ${id}`, seen: new Date(1_700_000_000_000 + id) };
}

async function onServer<T>(endpoint: Endpoint, command: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ ...endpoint, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    return await command(redis);
  } finally {
    redis.disconnect();
  }
}

// Generous bounds on whole suites and hooks (setup, failover and teardown each wait at most tens
// of seconds on their own): a hang anywhere fails here, not at the runner's file timeout.
const SUITE_MS = 120_000;
const HOOK_MS = 60_000;
// A notice that has not arrived in this long is lost, not late.
const NOTICE_MS = 10_000;

async function subscribers(endpoint: Endpoint, channel: string): Promise<number> {
  return onServer(
    endpoint,
    async (r) => ((await r.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1],
  );
}

describe('Redis Sentinel', { timeout: SUITE_MS }, () => {
  let setup: SentinelSetup | undefined;
  const caches: Cache[] = [];
  const prefix = uniquePrefix('sentinel');

  before(
    async () => {
      setup = await startSentinel(1);
    },
    { timeout: HOOK_MS },
  );

  after(
    async () => {
      await Promise.all(caches.map((c) => c.close()));
      await setup?.stop();
    },
    { timeout: HOOK_MS },
  );

  function open(extra: Partial<CacheOptions> = {}): Cache {
    const cache = createCache({
      prefix,
      jitter: 0,
      ttl: '1m',
      redis: { sentinel: { sentinels: setup!.sentinels, name: setup!.name }, reconnect: { maxMs: 500 } },
      ...extra,
    });
    cache.on('error', () => {}); // a failover drops connections; absorbed failures are expected
    caches.push(cache);
    return cache;
  }

  test('getOrSet, tags and pub/sub invalidation through Sentinel, and again after a failover', async () => {
    const s = setup!;
    const [a, b] = [open(), open()];
    assert.equal(await a.ready(), true);
    assert.equal(await b.ready(), true);
    let calls = 0;
    const load = (id: number) => () => {
      calls++;
      return user(id);
    };
    assert.deepEqual(await a.getOrSet('user:1', load(1), { tags: ['team'] }), user(1));
    assert.deepEqual(await b.getOrSet('user:1', load(1)), user(1), 'b reads what a loaded');
    assert.equal(calls, 1);
    const master = await s.currentMaster();
    assert.equal(master.port, s.master.port);
    assert.equal(await onServer(master, (r) => r.exists(`${prefix}user:1`)), 1, 'stored on the master');

    const evicted = once(b, 'invalidate');
    await a.deleteByTag('team');
    await within("b's notice of the tag deletion", NOTICE_MS, evicted);
    assert.equal(b.memoryHas('user:1'), false, 'b evicted on a tag deletion');
    // Redis holds a tombstone in its place for a while: a miss to every reader, which loads.
    assert.equal(await b.get('user:1'), undefined, 'a miss in Redis after a tag deletion');
    assert.deepEqual(await b.getOrSet('user:1', load(1)), user(1));
    assert.equal(calls, 2, 'b loaded it again');

    // The caches follow a failover: each drops the demoted master and comes back on the new one.
    // Commands and the invalidation channel do so on connections of their own, each in its own time:
    // the channel was seen back 8 ms after a's notice below was published (lost to b, whose memory
    // tier its resubscribe then emptied, with no 'invalidate'), so the test waited forever for it.
    const movedAt: Record<string, number> = {};
    const busBackAt: Record<string, number> = {};
    for (const [name, cache] of [
      ['a', a],
      ['b', b],
    ] as const) {
      cache.on('redis:up', () => {
        movedAt[name] = Date.now();
      });
      cache.on('bus:up', () => {
        busBackAt[name] = Date.now();
      });
    }
    const failoverStarted = Date.now();
    const promoted = await s.failover();
    const namedAt = Date.now();
    assert.equal(promoted.port, s.replica.port, 'the replica is the master now');
    await eventually(
      'both caches back up (commands and invalidation channel) after the failover',
      20_000,
      async () => 'a' in movedAt && 'b' in movedAt && 'a' in busBackAt && 'b' in busBackAt,
    );
    // Both subscribers on the new master, not left on the demoted one (which keeps them ~10 s, deaf).
    const channel = `${prefix}__bus`;
    await eventually(
      'both subscribers on the new master',
      20_000,
      async () => (await subscribers(promoted, channel)) === 2,
    );
    // b has the set's notice before it reads: a read that a notice overlaps is not kept in memory.
    const told = once(b, 'invalidate');
    await a.set('after', user(2), { tags: ['team'] });
    await within("b's notice of the set after the failover", NOTICE_MS, told);
    assert.equal(await onServer(promoted, (r) => r.exists(`${prefix}after`)), 1, 'written to the new master');
    const upAt = Math.max(movedAt.a!, movedAt.b!);
    const busAt = Math.max(busBackAt.a!, busBackAt.b!);
    console.log(
      `# sentinel: failover to ${promoted.port} named by the sentinels ${namedAt - failoverStarted} ms after SENTINEL FAILOVER; caches back up on it ${upAt - namedAt} ms later, invalidation channels ${busAt - namedAt} ms later`,
    );
    calls = 0;
    assert.deepEqual(await b.getOrSet('after', load(2)), user(2), 'b reads it from the new master');
    assert.equal(calls, 0);
    assert.ok(b.memoryHas('after'), "b.memoryHas('after')");
    const evictedAgain = once(b, 'invalidate');
    await a.deleteByTag('team');
    await within("b's notice of the tag deletion after the failover", NOTICE_MS, evictedAgain);
    assert.equal(b.memoryHas('after'), false, 'pub/sub invalidation works after the failover');
    assert.equal(await b.get('after'), undefined, 'a miss on the new master after a tag deletion');
    assert.deepEqual(await b.getOrSet('after', load(2)), user(2));
    assert.equal(calls, 1, 'b loaded it again');
  });
});

describe('Redis Cluster (3 masters)', { timeout: SUITE_MS }, () => {
  let setup: ClusterSetup | undefined;
  let admin: Cluster | undefined;
  const caches: Cache[] = [];
  const prefix = uniquePrefix('cluster');

  before(
    async () => {
      setup = await startCluster(3);
      admin = new Cluster(setup.nodes);
    },
    { timeout: HOOK_MS },
  );

  after(
    async () => {
      await Promise.all(caches.map((c) => c.close()));
      admin?.disconnect();
      await setup?.stop();
    },
    { timeout: HOOK_MS },
  );

  function open(extra: Partial<CacheOptions> = {}): Cache {
    const cache = createCache({
      prefix,
      jitter: 0,
      ttl: '1m',
      redis: { cluster: { nodes: setup!.nodes } },
      ...extra,
    });
    caches.push(cache);
    return cache;
  }

  test('deleteByTag removes a tag whose keys live on every node, and every instance evicts them', async () => {
    const [a, b] = [open(), open()];
    assert.equal(await a.ready(), true);
    assert.equal(await b.ready(), true);
    const ids = Array.from({ length: 30 }, (_, i) => i);
    let calls = 0;
    for (const id of ids)
      await a.getOrSet(
        `user:${id}`,
        () => {
          calls++;
          return user(id);
        },
        { tags: ['everyone'] },
      );
    for (const id of ids)
      assert.deepEqual(
        await b.getOrSet(`user:${id}`, () => {
          calls++;
          return user(id);
        }),
        user(id),
      );
    assert.equal(calls, ids.length, 'b found all 30 in the cluster');

    // The keys really are spread: each master holds some of them.
    const perNode = await Promise.all(
      setup!.nodes.map((node) => onServer(node, async (r) => (await r.keys(`${prefix}user:*`)).length)),
    );
    console.log(`# cluster: 30 tagged keys per master ${perNode.join(',')}`);
    assert.ok(
      perNode.every((n) => n > 0),
      `keys on every master: ${perNode}`,
    );

    const evicted = new Promise<void>((resolve) =>
      b.on('invalidate', (e) => {
        if (e.tags.includes('everyone')) resolve();
      }),
    );
    await a.deleteByTag('everyone');
    await within("b's notice of the tag deletion", NOTICE_MS, evicted);
    assert.ok(
      ids.every((id) => !b.memoryHas(`user:${id}`)),
      'b evicted every tagged key',
    );
    assert.equal(await admin!.exists(`${prefix}__tag:everyone`), 0, 'tag index gone');
    // Each key, on its own node, holds a tombstone for a while: a miss to every reader, which loads.
    const left = await Promise.all(ids.map((id) => b.get(`user:${id}`)));
    assert.ok(
      left.every((value) => value === undefined),
      'no tagged key readable on any node',
    );
    for (const id of ids)
      assert.deepEqual(
        await b.getOrSet(`user:${id}`, () => {
          calls++;
          return user(id);
        }),
        user(id),
      );
    assert.equal(calls, 2 * ids.length, 'b loaded all 30 again');
  });

  test('the distributed lock lets one of two instances load a cold key', async () => {
    const [a, b] = [open({ lock: { wait: 5000 } }), open({ lock: { wait: 5000 } })];
    await Promise.all([a.ready(), b.ready()]);
    let calls = 0;
    const loader = async () => {
      calls++;
      await delay(100);
      return 'loaded once';
    };
    const values = await Promise.all([
      ...Array.from({ length: 50 }, () => a.getOrSet('cold', loader)),
      ...Array.from({ length: 50 }, () => b.getOrSet('cold', loader)),
    ]);
    assert.equal(calls, 1);
    assert.ok(
      values.every((v) => v === 'loaded once'),
      "values.every((v) => v === 'loaded once')",
    );
  });

  test("the subscriber's connection dropped: bus:down, then bus:up with the memory tier emptied", async () => {
    const [a, b] = [open(), open()];
    assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
    const told = once(b, 'invalidate');
    await a.set('sub', 'v1');
    await within("b's notice of the set", NOTICE_MS, told);
    assert.equal(await b.get('sub'), 'v1');
    assert.ok(b.memoryHas('sub'), "b.memoryHas('sub')");
    const down = once(b, 'bus:down');
    const up = once(b, 'bus:up');
    // ioredis moves the subscription to another connection by itself; a notice sent meanwhile is lost.
    const killed = await Promise.all(
      setup!.nodes.map((node) => onServer(node, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'pubsub'))),
    );
    // The suite's earlier caches are still open: theirs go too.
    const total = killed.reduce((sum: number, n) => sum + Number(n), 0);
    assert.ok(total >= 2, `subscriber connections killed: ${total}, want a's and b's at least`);
    await a.set('sub', 'v2');
    await within("b's bus:down after its subscriber connection was killed", NOTICE_MS, down);
    await within("b's bus:up once subscribed again", NOTICE_MS, up);
    assert.equal(b.memoryHas('sub'), false, "b's memory tier still holds v1, whose notice may be lost");
    assert.equal(await b.get('sub'), 'v2');
  });
});
