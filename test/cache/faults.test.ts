// Fault injection on a redis-server each test starts and may kill: a lost subscriber connection,
// Redis killed with writes in flight, a lock holder killed mid-load.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Cache, createCache, decodeEntry, isTombstone } from '../../src/cache/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { forkable } from '../helpers/runnable.js';
import { until, within } from '../helpers/until.js';
import { freePort, type OwnRedis, startRedis, uniquePrefix } from './helpers.js';

const HOLDER = fileURLToPath(new URL('./fixtures/lock-holder.ts', import.meta.url));

async function ownRedis(t: TestContext): Promise<OwnRedis> {
  const own = await startRedis(await freePort());
  t.after(() => own.stop());
  return own;
}

function closing(t: TestContext, cache: Cache): Cache {
  cache.on('error', () => {}); // absorbed failures are the point here; callers must see none
  t.after(() => cache.close());
  return cache;
}

function admin(t: TestContext, url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  t.after(() => client.disconnect());
  return client;
}

test('an instance whose subscriber connection dropped empties its memory tier when it resubscribes', async (t) => {
  const own = await ownRedis(t);
  const options = { prefix: uniquePrefix('resub'), ttl: '1m', redis: { url: own.url } };
  const a = closing(t, createCache(options));
  const b = closing(t, createCache(options));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  // B has the set's notice before it reads: a read the notice overlaps is not kept in memory.
  const told = once(b, 'invalidate');
  await a.set('k', 'v1');
  await told;
  assert.equal(await b.get('k'), 'v1');
  assert.ok(b.memoryHas('k'), "b.memoryHas('k')");
  const redis = admin(t, own.url);
  const subscribed = async () =>
    ((await redis.call('PUBSUB', 'NUMSUB', `${options.prefix}__bus`)) as [string, number])[1];
  // Both subscribers go; the notice of the set below reaches nobody.
  assert.equal(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub'), 2);
  await a.set('k', 'v2');
  // Missed invalidation: until B is back on the channel its memory still says v1 (why it must clear).
  assert.equal(await b.get('k'), 'v1');
  await until(async () => (await subscribed()) === 2, 10_000, 'both subscribers back');
  await until(() => !b.memoryHas('k'), 10_000, "B's memory tier emptied on resubscribe");
  assert.equal(await b.get('k'), 'v2');
  // And the channel works again.
  const evicted = once(b, 'invalidate');
  await a.set('k', 'v3');
  await evicted;
  assert.equal(await b.get('k'), 'v3');
});

test("the invalidation channel's loss and return are events of their own (bus:down, bus:up), apart from redis:up", async (t) => {
  // After a Sentinel failover the subscriber reconnects on its own connection, after the commands'
  // one: 'redis:up' had come while notices were still being lost, and nothing said when they would
  // reach this instance again (the topologies test waited for a notice published in that gap).
  const own = await ownRedis(t);
  const options = { prefix: uniquePrefix('bus-events'), ttl: '1m', redis: { url: own.url } };
  const a = closing(t, createCache(options));
  const b = closing(t, createCache(options));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  assert.equal(b.busUp, true, 'subscribed once ready');
  const told = once(b, 'invalidate');
  await a.set('k', 'v1');
  await within('the notice of the first set', 10_000, told);
  assert.equal(await b.get('k'), 'v1');
  assert.ok(b.memoryHas('k'), "b.memoryHas('k')");
  const events: string[] = [];
  for (const event of ['bus:down', 'bus:up', 'redis:down', 'redis:up'] as const)
    b.on(event, () => events.push(`${event} memoryHas=${b.memoryHas('k')}`));
  const down = once(b, 'bus:down');
  const up = once(b, 'bus:up');
  const redis = admin(t, own.url);
  assert.equal(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub'), 2);
  await within("b's bus:down after its subscriber was killed", 10_000, down);
  await within("b's bus:up after it resubscribed", 10_000, up);
  // Only the subscriber went: the commands' connection stayed up throughout. By 'bus:up' the memory
  // tier is empty (notices may have been lost) and the channel works again.
  assert.deepEqual(events, ['bus:down memoryHas=true', 'bus:up memoryHas=false']);
  assert.equal(b.busUp, true, 'b.busUp after bus:up');
  assert.equal(b.redisUp, true, 'b.redisUp throughout');
  const evicted = once(b, 'invalidate');
  await a.set('k', 'v2');
  await within('the notice of a set after bus:up', 10_000, evicted);
  assert.equal(await b.get('k'), 'v2');
});

test('a subscriber connection lost again before its resubscribe is answered: no unhandled rejection, and it subscribes on the next', async (t) => {
  // ioredis's autoResubscribe sent SUBSCRIBE with no handler: lost before the reply, it rejected
  // as an unhandled "Connection is closed.", which ends a Node process (a topologies run saw it
  // after a Sentinel failover).
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const own = await ownRedis(t);
  const proxy = await pausableProxy(own.port);
  t.after(() => proxy.close());
  const prefix = uniquePrefix('resub-lost');
  const a = closing(
    t,
    createCache({
      prefix,
      ttl: '1m',
      redis: { url: `redis://127.0.0.1:${proxy.port}`, reconnect: { maxMs: 50 } },
    }),
  );
  assert.equal(await a.ready(), true);
  const redis = admin(t, own.url);
  const subscribed = async () =>
    ((await redis.call('PUBSUB', 'NUMSUB', `${prefix}__bus`)) as [string, number])[1];
  assert.equal(await subscribed(), 1);
  // The next SUBSCRIBE (the one after the reconnect) stalls on its way: no reply comes.
  proxy.holdOn('subscribe');
  const before = proxy.accepted();
  assert.equal(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub'), 1);
  await until(() => proxy.holding(), 10_000, 'the resubscribe sent and stalled');
  // Lost again before the reply: the stalled connection is cut.
  proxy.dropHeld();
  await until(async () => (await subscribed()) === 1, 10_000, 'subscribed again on the next connection');
  assert.ok(proxy.accepted() >= before + 2, 'a second reconnect subscribed');
  // An unhandled rejection is reported after the microtasks of the turn it happened in.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(unhandled.map(String), []);
  // And the channel works: an invalidation from another instance reaches it.
  const b = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  await a.set('k', 'v1');
  assert.equal(await a.get('k'), 'v1');
  const evicted = once(a, 'invalidate');
  await b.set('k', 'v2');
  await evicted;
});

test('Redis killed with writes in flight: the offline queue replays them in the order they were made', async (t) => {
  const port = await freePort();
  let own = await startRedis(port);
  t.after(() => own.stop());
  const prefix = uniquePrefix('order');
  const a = closing(
    t,
    createCache({ prefix, ttl: '1m', redis: { url: own.url, reconnect: { baseMs: 20, maxMs: 100 } } }),
  );
  assert.equal(await a.ready(), true);
  // Writes awaiting a reply when Redis dies fail when ioredis sees the connection close; writes
  // made after the socket died but before that fail at once, so first. The queue must replay them
  // in the order they were made, not in the order they failed.
  const writes: Promise<void>[] = [];
  own.process.kill('SIGSTOP'); // so the first writes stay unanswered, then are lost with the process
  for (let i = 1; i <= 20; i++) writes.push(a.set('k', `v${i}`));
  own.process.kill('SIGKILL');
  // One write per turn of the event loop, so some land between the socket's death and its 'close'.
  let last = 20;
  while (last < 40 || a.redisUp) {
    writes.push(a.set('k', `v${++last}`));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(writes);
  assert.ok(!a.redisUp, '!a.redisUp');
  own = await startRedis(port);
  const watcher = admin(t, own.url);
  await watcher.subscribe(`${prefix}__bus`);
  const marked = new Promise<void>((resolve) =>
    watcher.on('message', (_channel, text: string) => {
      if (text.includes(`${prefix}marker`)) resolve();
    }),
  );
  await until(() => a.redisUp, 10_000, 'redis:up after the restart');
  // Queued behind the replay, so its notice comes after the replay is done.
  await a.set('marker', 1);
  await marked;
  const stored = await admin(t, own.url).getBuffer(`${prefix}k`);
  assert.ok(stored, 'k is in Redis');
  assert.equal(JSON.parse(decodeEntry(stored)!.value), `v${last}`);
});

test('a write made as Redis comes back goes after the writes queued while it was away', async (t) => {
  const port = await freePort();
  let own = await startRedis(port);
  t.after(() => own.stop());
  const prefix = uniquePrefix('order-up');
  const a = closing(
    t,
    createCache({ prefix, ttl: '1m', redis: { url: own.url, reconnect: { baseMs: 20, maxMs: 100 } } }),
  );
  assert.equal(await a.ready(), true);
  await own.stop();
  await until(() => !a.redisUp, 10_000, 'redis:down');
  await a.set('k', 'old'); // queued
  // The first write after the return: sent at once, the replay of 'old' would overwrite it.
  const wrote = new Promise<void>((resolve, reject) =>
    a.once('redis:up', () => a.set('k', 'new').then(resolve, reject)),
  );
  own = await startRedis(port);
  const watcher = admin(t, own.url);
  await watcher.subscribe(`${prefix}__bus`);
  const marked = new Promise<void>((resolve) =>
    watcher.on('message', (_channel, text: string) => {
      if (text.includes(`${prefix}marker`)) resolve();
    }),
  );
  await wrote;
  await a.set('marker', 1);
  await marked;
  const stored = await admin(t, own.url).getBuffer(`${prefix}k`);
  assert.ok(stored, 'k is in Redis');
  assert.equal(JSON.parse(decodeEntry(stored)!.value), 'new');
});

test('a lock holder SIGKILLed mid-load blocks the other process only until the lock TTL', async (t) => {
  const own = await ownRedis(t);
  const prefix = uniquePrefix('holder');
  const lockTtl = 1500;
  const { modulePath, execArgv } = forkable(HOLDER);
  const child = fork(modulePath, [own.url, prefix, String(lockTtl)], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await once(child, 'message'); // the child's loader runs: it holds the lock
  const redis = admin(t, own.url);
  const lockKey = `${prefix}__lock:cold`;
  // The lock's end, on this process's clock, from what Redis says is left of it. Before, the wait
  // was measured from the child's report that its loader ran, which comes after Redis set the
  // lock by however long the child was not scheduled: a child 300 ms late gave 'waited for the
  // lock to expire (1209 ms)' for a 1500 ms lock that had held the other process its full TTL.
  const asked = performance.now();
  const left = await redis.pttl(lockKey);
  assert.ok(left > 0 && left <= lockTtl, `the child holds the lock (PTTL ${left} ms)`);
  const expiresAfter = asked + left;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;

  // wait > lock TTL: only the lock's expiry can let this process load.
  const lockWait = 20_000;
  const cache = closing(
    t,
    createCache({ prefix, redis: { url: own.url }, lock: { ttl: lockTtl, wait: lockWait } }),
  );
  assert.equal(await cache.ready(), true);
  let loadedAt = 0;
  const value = await cache.getOrSet('cold', () => {
    loadedAt = performance.now();
    return 'mine';
  });
  const late = loadedAt - expiresAfter;
  console.log(
    `# dead lock holder: loaded ${Math.round(late)} ms after its lock expired (lock TTL ${lockTtl} ms)`,
  );
  assert.equal(value, 'mine');
  // Redis counts the TTL in whole milliseconds: 1 ms of rounding, not a wait that did not happen.
  assert.ok(late >= -1, `loaded only once the lock expired (${late.toFixed(1)} ms after)`);
  // Bounds a hang, not a speed: a load held until lock.wait ran out would come ~18 s after.
  assert.ok(
    late < lockWait / 2,
    `not blocked until lock.wait (${late.toFixed(0)} ms after the lock expired)`,
  );
  assert.equal(await redis.exists(lockKey), 0, 'lock released after the load');
});

test("a load that ends after another instance's set, before its notice arrives, stores nothing: neither tier keeps the older value", async (t) => {
  // A loads k (from before B's write, as a database read is); B sets k; A's load ends while B's
  // notice is still on its way to A. A's connections go through a proxy held across that window.
  const own = await ownRedis(t);
  const proxy = await pausableProxy(own.port);
  t.after(() => proxy.close());
  const prefix = uniquePrefix('load-race');
  const a = closing(t, createCache({ prefix, ttl: '1m', redis: { url: `redis://127.0.0.1:${proxy.port}` } }));
  const b = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  let loaderStarted!: () => void;
  const started = new Promise<void>((resolve) => (loaderStarted = resolve));
  let finishLoad!: (value: string) => void;
  const loading = a.getOrSet('k', () => {
    loaderStarted();
    return new Promise<string>((resolve) => (finishLoad = resolve));
  });
  await started;
  proxy.hold();
  await b.set('k', 'v2');
  const told = once(a, 'invalidate');
  finishLoad('v1');
  // A's store is under way (its write, if any, waits in the proxy); then both directions flow.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(a.memoryHas('k'), false, "A's memory keeps nothing before Redis has answered its store");
  proxy.resume();
  assert.equal(await loading, 'v1', "the load's own callers get what it loaded");
  await told;
  const redis = admin(t, own.url);
  const stored = decodeEntry((await redis.getBuffer(`${prefix}k`))!);
  assert.equal(stored?.value, JSON.stringify('v2'), "Redis still holds B's value, not the older load");
  assert.equal(await a.get('k'), 'v2');
  const c = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  assert.equal(await c.ready(), true);
  assert.equal(await c.get('k'), 'v2', 'a third instance reads the newer value');
});

/**
 * deleteDuringLoad: A misses k (`before`: no key, or an earlier delete's tombstone) and loads v1
 * from the database; B writes v2 to the database and deletes k; A's load ends while B's notice is
 * still on its way to A (A's connections go through a proxy held across that window).
 */
async function deleteDuringLoad(t: TestContext, before: 'no key' | 'tombstone'): Promise<void> {
  const own = await ownRedis(t);
  const proxy = await pausableProxy(own.port);
  t.after(() => proxy.close());
  const prefix = uniquePrefix('delete-race');
  const a = closing(t, createCache({ prefix, ttl: '1m', redis: { url: `redis://127.0.0.1:${proxy.port}` } }));
  const b = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  let database = 'v1';
  if (before === 'tombstone') {
    const told = once(a, 'invalidate');
    await b.delete('k');
    await told; // so that only Redis, not the notice, can tell A's load of the next delete
  }
  let loaderStarted!: () => void;
  const started = new Promise<void>((resolve) => (loaderStarted = resolve));
  let finishLoad!: () => void;
  const loading = a.getOrSet('k', () => {
    const read = database; // the load's database read, from before B's write
    loaderStarted();
    return new Promise<string>((resolve) => (finishLoad = () => resolve(read)));
  });
  await started;
  proxy.hold();
  database = 'v2';
  await b.delete('k');
  const told = once(a, 'invalidate');
  finishLoad();
  // A's store is under way (its write waits in the proxy); then both directions flow.
  await new Promise((resolve) => setImmediate(resolve));
  proxy.resume();
  assert.equal(await loading, 'v1', "the load's own callers get what it loaded");
  await told;
  const redis = admin(t, own.url);
  const left = await redis.getBuffer(`${prefix}k`);
  assert.notEqual(
    left && decodeEntry(left)?.value,
    JSON.stringify('v1'),
    'Redis does not hold the older load',
  );
  assert.equal(a.memoryHas('k'), false, "A's memory keeps nothing either");
  const errors: unknown[] = [];
  const c = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  c.on('error', (error) => errors.push(error));
  assert.equal(await c.ready(), true);
  assert.equal(await c.get('k'), undefined, "the delete's marker reads as a miss");
  assert.equal(await c.getOrSet('k', () => database), 'v2', 'a later read loads the new value');
  assert.equal(await a.getOrSet('k', () => database), 'v2');
  assert.deepEqual(errors, [], 'a marker is not an unreadable entry');
}

test("a load that ends after another instance's delete of a key Redis did not hold, before its notice arrives, stores nothing", async (t) => {
  // Before, B's delete (UNLINK of nothing) left no trace, A's compare saw "nothing before, nothing
  // now" and Redis held v1 for the whole TTL.
  await deleteDuringLoad(t, 'no key');
});

test("a load that saw one delete's tombstone is not stored over the next delete's", async (t) => {
  await deleteDuringLoad(t, 'tombstone');
});

test('the marker a delete leaves: a load that began after it stores, and the marker expires', async (t) => {
  const own = await ownRedis(t);
  const prefix = uniquePrefix('tombstone');
  const a = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url, tombstoneTtl: 100 } }));
  const b = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  const errors: unknown[] = [];
  b.on('error', (error) => errors.push(error));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  await a.set('k', 'v1');
  const told = once(b, 'invalidate');
  await a.delete('k');
  await told;
  const redis = admin(t, own.url);
  const marker = await redis.getBuffer(`${prefix}k`);
  assert.ok(marker && isTombstone(marker), 'the delete left a marker');
  const pttl = await redis.pttl(`${prefix}k`);
  assert.ok(pttl > 0 && pttl <= 100, `the marker expires with tombstoneTtl (PTTL ${pttl})`);
  // B's load saw the marker and nothing changed it meanwhile: it stores.
  assert.equal(await b.getOrSet('k', () => 'v2'), 'v2');
  const stored = await redis.getBuffer(`${prefix}k`);
  assert.equal(stored && decodeEntry(stored)?.value, JSON.stringify('v2'));
  // Each delete's marker is its own: a load that saw one delete's marker is not stored over the next.
  await a.delete('k');
  const first = await redis.get(`${prefix}k`);
  await a.delete('k');
  assert.notEqual(await redis.get(`${prefix}k`), first);
  await until(async () => (await redis.exists(`${prefix}k`)) === 0, 10_000, 'the marker expired');
  assert.deepEqual(errors, []);
});

/**
 * tagDeleteDuringLoad: A misses k and loads v1 from the database; meanwhile k comes to be listed
 * under tag t, B writes to the database and deletes the tag; A's load ends while B's notices are
 * still on their way to A (A's connections go through a proxy held across that window).
 *   'set meanwhile': Redis held nothing for k when A read; B sets k (tag t, v2), then deletes the tag.
 *   'listed': k's entry (tag t) had expired in Redis when A read; the tag's index still lists k.
 *   'deleted, then tag': as 'listed', and B deletes k (a tombstone) before it deletes the tag.
 */
async function tagDeleteDuringLoad(
  t: TestContext,
  how: 'set meanwhile' | 'listed' | 'deleted, then tag',
): Promise<void> {
  const own = await ownRedis(t);
  const proxy = await pausableProxy(own.port);
  t.after(() => proxy.close());
  const prefix = uniquePrefix('tag-race');
  const a = closing(t, createCache({ prefix, ttl: '1m', redis: { url: `redis://127.0.0.1:${proxy.port}` } }));
  const b = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  const redis = admin(t, own.url);
  let database = 'v1';
  if (how !== 'set meanwhile') {
    const told = once(a, 'invalidate');
    await b.set('k', 'v0', { tags: ['t'] });
    await told;
    await redis.del(`${prefix}k`); // as if it expired: the tag's index still lists k
  }
  let loaderStarted!: () => void;
  const started = new Promise<void>((resolve) => (loaderStarted = resolve));
  let finishLoad!: () => void;
  const loading = a.getOrSet('k', () => {
    const read = database; // the load's database read, from before B's writes
    loaderStarted();
    return new Promise<string>((resolve) => (finishLoad = () => resolve(read)));
  });
  await started;
  proxy.hold();
  if (how === 'set meanwhile') {
    database = 'v2';
    await b.set('k', 'v2', { tags: ['t'] });
  }
  database = 'v3';
  if (how === 'deleted, then tag') await b.delete('k');
  await b.deleteByTag('t');
  const told = new Promise<void>((resolve) =>
    a.on('invalidate', (event) => {
      if (event.tags.includes('t')) resolve();
    }),
  );
  finishLoad();
  // A's store is under way (its write waits in the proxy); then both directions flow.
  await new Promise((resolve) => setImmediate(resolve));
  proxy.resume();
  assert.equal(await loading, 'v1', "the load's own callers get what it loaded");
  await told;
  const left = await redis.getBuffer(`${prefix}k`);
  assert.ok(
    left && isTombstone(left),
    `Redis holds the tag deletion's tombstone, not ${left === null ? 'no key' : decodeEntry(left)?.value}`,
  );
  assert.equal(a.memoryHas('k'), false, "A's memory keeps nothing either");
  const errors: unknown[] = [];
  const c = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url } }));
  c.on('error', (error) => errors.push(error));
  assert.equal(await c.ready(), true);
  assert.equal(await c.get('k'), undefined, 'the tombstone reads as a miss');
  assert.equal(await c.getOrSet('k', () => database), 'v3', 'a later read loads the new value');
  assert.equal(await a.getOrSet('k', () => database), 'v3');
  assert.deepEqual(errors, [], 'a tombstone is not an unreadable entry');
}

test('a load that ends after another instance set its key and deleted its tag, before the notices arrive, stores nothing', async (t) => {
  // Before, deleteByTag UNLINKed k: A's compare saw "nothing before, nothing now" and stored v1.
  await tagDeleteDuringLoad(t, 'set meanwhile');
});

test('a load of a key whose entry expired but its tag still lists it is not stored over a deleteByTag', async (t) => {
  await tagDeleteDuringLoad(t, 'listed');
});

test("deleteByTag does not remove a delete's tombstone early: it leaves its own", async (t) => {
  // Before, UNLINK took away the tombstone B's delete had just left, and A's load stored v1.
  await tagDeleteDuringLoad(t, 'deleted, then tag');
});

test('a load under way while the subscriber reconnects is stored in neither tier: a notice it needed may be lost', async (t) => {
  // Before, the resubscribe emptied the memory tier but the load in flight then kept v1 in it (and
  // in Redis, the delete's tombstone having expired) after B's delete, whose notice A never got.
  const own = await ownRedis(t);
  const prefix = uniquePrefix('resub-load');
  // A reconnects its subscriber after 250-500 ms: B's delete falls in that gap.
  const a = closing(
    t,
    createCache({ prefix, ttl: '1m', redis: { url: own.url, reconnect: { baseMs: 500 } } }),
  );
  // B's tombstone outlives no load: only the notice could tell A's load of the delete.
  const b = closing(t, createCache({ prefix, ttl: '1m', redis: { url: own.url, tombstoneTtl: 1 } }));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  await a.set('other', 'x'); // emptied from A's memory when its subscriber is back
  assert.ok(a.memoryHas('other'), "a.memoryHas('other')");
  let heard = 0;
  a.on('invalidate', (event) => {
    if (event.source === 'remote') heard++;
  });
  let database = 'v1';
  let loaderStarted!: () => void;
  const started = new Promise<void>((resolve) => (loaderStarted = resolve));
  let finishLoad!: () => void;
  const loading = a.getOrSet('k', () => {
    const read = database; // the load's database read, from before B's write
    loaderStarted();
    return new Promise<string>((resolve) => (finishLoad = () => resolve(read)));
  });
  await started;
  const redis = admin(t, own.url);
  assert.equal(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub'), 2, "both instances' subscribers go");
  database = 'v2';
  await b.delete('k');
  await until(async () => (await redis.exists(`${prefix}k`)) === 0, 10_000, "B's tombstone expired");
  await until(() => !a.memoryHas('other'), 10_000, "A's subscriber back (its memory tier emptied)");
  assert.equal(heard, 0, "B's notice was lost to A");
  finishLoad();
  assert.equal(await loading, 'v1', "the load's own callers get what it loaded");
  assert.equal(a.memoryHas('k'), false, "A's memory keeps nothing of a load that spanned the gap");
  const left = await redis.getBuffer(`${prefix}k`);
  assert.equal(left && decodeEntry(left)?.value, null, 'nor does Redis');
  assert.equal(await a.getOrSet('k', () => database), 'v2', 'the next read loads the new value');
});

test('a set whose TTL ran out while it waited in the offline queue still replaces the older value', async (t) => {
  const own = await ownRedis(t);
  const prefix = uniquePrefix('queued-expired');
  let now = Date.now();
  const clock = { now: () => now };
  const options = {
    prefix,
    clock,
    jitter: 0,
    // Reconnects wait 250-500 ms: the set below is made while the connection is away.
    redis: { url: own.url, reconnect: { baseMs: 500, maxMs: 500 } },
  };
  const a = closing(t, createCache(options));
  const b = closing(t, createCache({ ...options, redis: { url: own.url } }));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  await a.set('k', 'v1', { ttl: '1h' });
  const queued = new Promise<void>((resolve, reject) =>
    a.once('redis:down', () => {
      // Made while A's connection is away: it waits in the offline queue.
      a.set('k', 'v2', { ttl: '1s' }).then(resolve, reject);
    }),
  );
  const redis = admin(t, own.url);
  await redis.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
  await within('the set made while A was away', 10_000, queued);
  // v2's TTL ends before the queue is replayed.
  now += 2000;
  await within("A's redis:up", 10_000, once(a, 'redis:up'));
  const watcher = admin(t, own.url);
  await watcher.subscribe(`${prefix}__bus`);
  const marked = new Promise<void>((resolve) =>
    watcher.on('message', (_channel, text: string) => {
      if (text.includes(`${prefix}marker`)) resolve();
    }),
  );
  // Queued behind the replay (or sent after it): its notice comes once the replay is done.
  await a.set('marker', 1);
  await within("the marker's notice", 10_000, marked);
  const stored = await redis.getBuffer(`${prefix}k`);
  assert.notEqual(
    stored && decodeEntry(stored)?.value,
    JSON.stringify('v1'),
    'Redis still holds v1, which the set of v2 replaced',
  );
  assert.equal(await a.get('k'), undefined, 'A reads v1 back once v2 expired');
  assert.equal(await b.get('k'), undefined, 'B reads v1, which A replaced');
});

test('a set Redis rejects (a value over proto-max-bulk-len) does not leave the older value in Redis', async (t) => {
  const own = await startRedis(await freePort(), ['--proto-max-bulk-len', '1mb']);
  t.after(() => own.stop());
  const prefix = uniquePrefix('rejected-set');
  const options = { prefix, ttl: '1h', redis: { url: own.url, reconnect: { baseMs: 20, maxMs: 100 } } };
  const a = closing(t, createCache(options));
  const b = closing(t, createCache(options));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  await a.set('k', 'v1');
  assert.equal(await b.get('k'), 'v1');
  const rejected = new Promise<void>((resolve) =>
    a.on('error', (error) => {
      if (error.code === 'CACHE_REDIS_COMMAND') resolve();
    }),
  );
  const evicted = once(b, 'invalidate');
  await a.set('k', 'v2'.repeat(600_000)); // 1.2 MB of JSON: Redis refuses it
  await within('the rejection', 10_000, rejected);
  await within("B's notice of the set", 10_000, evicted);
  const redis = admin(t, own.url);
  await until(
    async () => {
      const stored = await redis.getBuffer(`${prefix}k`);
      return stored === null || decodeEntry(stored)?.value !== JSON.stringify('v1');
    },
    10_000,
    'Redis no longer holding v1, which the set of v2 replaced',
  );
  assert.equal(await b.get('k'), undefined, 'B reads v1 back after the set of v2');
});

test('delete and deleteByTag on a Redis out of memory (noeviction) still remove the value', async (t) => {
  const own = await ownRedis(t);
  const prefix = uniquePrefix('oom-delete');
  const options = { prefix, ttl: '1h', redis: { url: own.url } };
  const a = closing(t, createCache(options));
  const b = closing(t, createCache(options));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);
  await a.set('k', 'v1');
  await a.set('t0', 'v1', { tags: ['first'] });
  await a.set('t', 'v1', { tags: ['tag'] });
  const redis = admin(t, own.url);
  // Full: every command that may grow memory (SET, a tombstone too) gets an OOM reply.
  await redis.config('SET', 'maxmemory-policy', 'noeviction');
  await redis.config('SET', 'maxmemory', '1');
  const evicted = once(b, 'invalidate');
  await a.delete('k');
  await within("B's notice of the delete", 10_000, evicted);
  const tagged = once(b, 'invalidate');
  await a.deleteByTag(['first', 'tag']);
  await within("B's notice of the deleteByTag", 10_000, tagged);
  await until(
    async () => (await redis.exists(`${prefix}k`, `${prefix}t0`, `${prefix}t`)) === 0,
    10_000,
    'Redis no longer holding the deleted keys',
  );
  assert.equal(await b.get('k'), undefined, 'B reads back the value A deleted');
  assert.equal(await b.get('t0'), undefined, 'B reads back the value A deleted by its tag');
  assert.equal(await b.get('t'), undefined, 'B reads back the value A deleted by its second tag');
});
