/**
 * One instance cut off from the shared Redis (its connections go through a proxy the test holds or
 * closes) while the others carry on: what it replays when it is back, and what its metrics say
 * meanwhile.
 */
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { type Cache, createCache, decodeEntry, isTombstone } from '../../src/cache/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { within } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefixes: string[] = [];
const REDIS_PORT = Number(new URL(SHARED_REDIS_URL).port || 6379);

after(async () => {
  for (const prefix of prefixes) await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

function prefixFor(label: string): string {
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  return prefix;
}

/** closing closes `cache` when the test ends, failed or not; absorbed failures are expected here. */
function closing(t: TestContext, cache: Cache): Cache {
  cache.on('error', () => {});
  t.after(() => cache.close());
  return cache;
}

/** event resolves at `cache`'s next `name` (events.once would reject at the 'error's absorbed meanwhile). */
function event(cache: Cache, name: 'redis:up' | 'redis:down'): Promise<void> {
  return new Promise((resolve) => cache.once(name, () => resolve()));
}

/** replayed resolves once `cache` has replayed what its offline queue held: a marker set after it is announced. */
async function replayed(t: TestContext, cache: Cache, prefix: string): Promise<void> {
  const watcher = new Redis(SHARED_REDIS_URL);
  t.after(() => watcher.disconnect());
  await watcher.subscribe(`${prefix}__bus`);
  const marked = new Promise<void>((resolve) =>
    watcher.on('message', (_channel, text: string) => {
      if (text.includes(`${prefix}marker`)) resolve();
    }),
  );
  // Queued behind the replay (or sent after it): its notice comes once the replay is done.
  await cache.set('marker', 1);
  await within("the marker's notice after the replay", 10_000, marked);
}

/**
 * twoInstances: A reaches Redis through a proxy the test can stall (200 ms command timeout), B
 * directly; both hold `k` and `gone` = 'v0'. B's clock runs 1 ms ahead of A's: Redis orders a late
 * write by the writers' clocks (SET_IF_NOT_OLDER), and B writing in the same millisecond as A made
 * the two a tie, which the late write wins (a CI run: A's set over B's delete). These tests are about
 * lateness, not ties.
 */
async function twoInstances(t: TestContext, label: string) {
  const proxy = await pausableProxy(REDIS_PORT);
  t.after(() => proxy.close());
  const prefix = prefixFor(label);
  const a = closing(
    t,
    createCache({
      prefix,
      ttl: '1m',
      redis: { url: `redis://127.0.0.1:${proxy.port}`, commandTimeout: 200 },
    }),
  );
  const b = closing(
    t,
    createCache({
      prefix,
      ttl: '1m',
      redis: { url: SHARED_REDIS_URL },
      clock: { now: () => Date.now() + 1 },
    }),
  );
  assert.deepEqual([await a.ready(), await b.ready()], [true, true], 'both caches ready');
  await a.set('k', 'v0');
  await a.set('gone', 'v0');
  return { proxy, prefix, a, b };
}

test("a set replayed after an outage does not overwrite another instance's newer set or delete", async (t) => {
  const { proxy, prefix, a, b } = await twoInstances(t, 'replay-newer');
  // A's connections stall: its writes time out and wait in its offline queue.
  proxy.hold();
  await a.set('k', 'older from A');
  await a.set('gone', 'older from A');
  assert.equal(a.memoryHas('k'), true, 'A keeps its own set in memory meanwhile');
  // B, still connected, writes after A did.
  await b.set('k', 'newer from B');
  await b.delete('gone');
  // A's links fail for good: it reconnects and replays its queue.
  const back = event(a, 'redis:up');
  proxy.dropHeld();
  await within("A's redis:up after the reconnect", 10_000, back);
  await replayed(t, a, prefix);
  const k = await admin.getBuffer(`${prefix}k`);
  assert.equal(
    k && decodeEntry(k)?.value,
    JSON.stringify('newer from B'),
    "Redis holds B's newer set, not A's older one replayed over it",
  );
  const gone = await admin.getBuffer(`${prefix}gone`);
  assert.ok(
    gone !== null && isTombstone(gone),
    `Redis holds B's delete, not A's older set replayed over it (${gone && decodeEntry(gone)?.value})`,
  );
  assert.equal(await a.get('k'), 'newer from B', 'A reads the newer value too, not its own from memory');
  assert.equal(await a.get('gone'), undefined, 'A reads the key B deleted as gone');
  const c = closing(t, createCache({ prefix, ttl: '1m', redis: { url: SHARED_REDIS_URL } }));
  assert.equal(await c.ready(), true, 'C ready');
  assert.equal(await c.get('k'), 'newer from B', 'a third instance reads the newer value');
  // A set replayed over an older value is stored as before.
  proxy.hold();
  await a.set('k', 'newest from A');
  const again = event(a, 'redis:up');
  proxy.dropHeld();
  await within("A's redis:up after the second reconnect", 10_000, again);
  await replayed(t, a, prefix);
  const newest = await admin.getBuffer(`${prefix}k`);
  assert.equal(
    newest && decodeEntry(newest)?.value,
    JSON.stringify('newest from A'),
    "A's replay of a set newer than what Redis holds is stored",
  );
});

test("a set whose first attempt timed out and lands late does not overwrite another instance's newer set or delete", async (t) => {
  // The first attempt's bytes were on their way when it timed out: a stalled link (or a Redis busy
  // past the timeout) still delivers them, after B's writes. Sent as a plain SET, A's older value
  // overwrote B's newer one (and brought back the key B deleted) for its whole TTL.
  const { proxy, prefix, a, b } = await twoInstances(t, 'late-first');
  proxy.hold();
  // Each times out (200 ms) and waits in A's queue; its bytes wait in the stalled link.
  await a.set('k', 'older from A');
  await a.set('gone', 'older from A');
  await b.set('k', 'newer from B');
  await b.delete('gone');
  // The link moves again, the same connection: Redis runs what A sent, in order, after B's writes.
  proxy.resume();
  await replayed(t, a, prefix);
  const k = await admin.getBuffer(`${prefix}k`);
  assert.equal(
    k && decodeEntry(k)?.value,
    JSON.stringify('newer from B'),
    "Redis holds B's newer set, not A's older one that landed late",
  );
  const gone = await admin.getBuffer(`${prefix}gone`);
  assert.ok(
    gone !== null && isTombstone(gone),
    `Redis holds B's delete, not A's older set that landed late (${gone && decodeEntry(gone)?.value})`,
  );
  assert.equal(await a.get('k'), 'newer from B', 'A reads the newer value too, not its own from memory');
  assert.equal(await a.get('gone'), undefined, 'A reads the key B deleted as gone');
});

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const found = (await registry.getSingleMetric(name)?.get())?.values.find((v) =>
    Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  return found?.value ?? 0;
}

test('reads while Redis is unreachable count as unavailable, not as Redis misses', async (t) => {
  // Counted as misses, an outage showed on a dashboard as the Redis tier's hit rate collapsing.
  const proxy = await pausableProxy(REDIS_PORT);
  t.after(() => proxy.close());
  const prefix = prefixFor('unavailable');
  const registry = new Registry();
  const a = closing(
    t,
    createCache({
      prefix,
      registry,
      memory: false,
      ttl: '1m',
      redis: { url: `redis://127.0.0.1:${proxy.port}` },
    }),
  );
  assert.equal(await a.ready(), true, 'cache ready');
  await a.set('k', 'v');
  assert.equal(await a.get('k'), 'v', 'a Redis hit');
  assert.equal(await a.get('absent'), undefined, 'a Redis miss');
  assert.equal(await a.getOrSet('cold', () => 'loaded'), 'loaded', 'a Redis miss, then a load');
  const redis = { cache: 'default', tier: 'redis' };
  const counts = async () => ({
    hits: await metric(registry, 'scaleplane_cache_hits_total', redis),
    misses: await metric(registry, 'scaleplane_cache_misses_total', redis),
    unavailable: await metric(registry, 'scaleplane_cache_unavailable_total', redis),
  });
  assert.deepEqual(await counts(), { hits: 1, misses: 2, unavailable: 0 }, 'Redis-tier counts while up');
  const down = event(a, 'redis:down');
  await proxy.close(); // connections cut, reconnects refused
  await within("the cache's redis:down", 10_000, down);
  for (let i = 0; i < 5; i++) {
    assert.equal(await a.getOrSet(`down-${i}`, () => 'loaded'), 'loaded', 'the loader answers');
    assert.equal(await a.get('k'), undefined, 'get answers undefined without Redis');
  }
  assert.deepEqual(
    await counts(),
    { hits: 1, misses: 2, unavailable: 10 },
    'Redis-tier counts after 10 reads with Redis unreachable',
  );
});
