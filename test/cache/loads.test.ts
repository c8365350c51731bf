/**
 * Loads that are slow or never end, on real Redis: a load that outlived a caller's `timeout` stays
 * the key's one flight (here and, under the lock, in the fleet), `hardTimeout` abandons a load that
 * hangs, and `ready()` keeps its deadline with Redis down.
 */
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { type CacheError, createCache, type LoaderContext } from '../../src/cache/index.js';
import { freePort } from '../helpers/ports.js';
import { until, within } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefixes: string[] = [];

after(async () => {
  for (const prefix of prefixes) await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

function prefixFor(label: string): string {
  const prefix = uniquePrefix(`loads-${label}`);
  prefixes.push(prefix);
  return prefix;
}

/** A clock the test moves: entries go into their grace window without waiting for them. */
function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** gate is a promise the test resolves when it chooses: a loader held on it is "slow". */
function gate<T>() {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const found = (await registry.getSingleMetric(name)?.get())?.values.find((v) =>
    Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  return found?.value ?? 0;
}

function closing<T extends { close(): Promise<void> }>(t: TestContext, cache: T): T {
  t.after(() => cache.close());
  return cache;
}

test('a load that outlived a caller’s timeout stays the key’s one flight: later calls get the stale value, no new load', async (t) => {
  const clock = fakeClock();
  const registry = new Registry();
  const cache = closing(
    t,
    createCache({
      prefix: prefixFor('late'),
      redis: { url: SHARED_REDIS_URL },
      clock,
      registry,
      jitter: 0,
      ttl: 1000,
      staleIfError: 60_000,
    }),
  );
  assert.equal(await cache.ready(), true, 'Redis answers');
  await cache.getOrSet('k', () => 'v1');
  clock.advance(2000); // past the TTL, inside the grace window: a fallback, not a value to serve
  const slow = gate<string>();
  let loads = 0;
  const loader = () => {
    loads++;
    return slow.opened;
  };
  const answers: string[] = [];
  for (let i = 0; i < 10; i++) answers.push(await cache.getOrSet('k', loader, { timeout: 20 }));
  assert.deepEqual(answers, Array(10).fill('v1'), `every call answered with the stale value: ${answers}`);
  assert.equal(loads, 1, `one load for 10 calls while the first is still running, saw ${loads}`);
  // A call without a timeout waits for that same load rather than starting one.
  const patient = cache.getOrSet('k', loader);
  slow.open('v2');
  assert.equal(await within('the call without a timeout', 10_000, patient), 'v2');
  await until(async () => (await cache.get('k')) === 'v2', 10_000, 'the late load stored v2');
  assert.equal(loads, 1, `still one load, saw ${loads}`);
  assert.equal(
    await metric(registry, 'scaleplane_cache_stale_serves_total', { reason: 'timeout' }),
    10,
    'each stale answer counted',
  );
});

test('under the lock, a load that outlived the timeout keeps the lock: another instance does not load too', async (t) => {
  const prefix = prefixFor('late-lock');
  // The real clock: the lock's wait is measured on the monotonic clock, the entries' TTL on the cache's.
  const options = {
    prefix,
    redis: { url: SHARED_REDIS_URL },
    jitter: 0,
    ttl: 30,
    staleIfError: 60_000,
    lock: { ttl: 30_000, wait: 200, poll: 20 },
  };
  const a = closing(t, createCache(options));
  const b = closing(t, createCache(options));
  assert.equal(await a.ready(), true, 'A ready');
  assert.equal(await b.ready(), true, 'B ready');
  await a.getOrSet('k', () => 'v1');
  // Past its 30 ms TTL, in its grace window: get() no longer serves it.
  await until(async () => (await a.get('k')) === undefined, 10_000, 'v1 past its TTL');
  const slow = gate<string>();
  let loads = 0;
  const loader = (context: LoaderContext<string>) => {
    loads++;
    // v2 must outlive the test's polling for it, unlike v1's 30 ms.
    context.setTtl(60_000);
    return slow.opened;
  };
  assert.equal(await a.getOrSet('k', loader, { timeout: 20 }), 'v1', 'A answered stale at its timeout');
  // B reads v1 (in grace) from Redis and needs the lock to load; A's load still runs.
  assert.equal(await b.getOrSet('k', loader, { timeout: 20 }), 'v1', 'B answered stale');
  assert.equal(
    loads,
    1,
    `one load in the fleet while A's runs, saw ${loads} (A released the lock at its timeout)`,
  );
  slow.open('v2');
  await until(async () => (await b.get('k')) === 'v2', 10_000, 'B reads the v2 A stored');
});

test('hardTimeout: a load that never ends is abandoned; its signal aborts, the next call loads again, the late result is not stored', async (t) => {
  const registry = new Registry();
  const prefix = prefixFor('hard');
  const cache = closing(
    t,
    createCache({ prefix, redis: { url: SHARED_REDIS_URL }, registry, hardTimeout: 50, jitter: 0 }),
  );
  assert.equal(await cache.ready(), true, 'Redis answers');
  const hung = gate<string>();
  let signal: AbortSignal | undefined;
  const first = cache.getOrSet('k', (context: LoaderContext<string>) => {
    signal = context.signal;
    return hung.opened;
  });
  const error = (await within(
    'the hung load to be abandoned',
    10_000,
    first.then(
      (value) => assert.fail(`resolved with ${value}`),
      (e: unknown) => e,
    ),
  )) as CacheError;
  assert.equal(error.code, 'CACHE_LOADER_TIMEOUT', `rejected with ${error}`);
  assert.match(error.message, /"k"/, 'the error names the key');
  assert.equal(signal?.aborted, true, 'the loader’s signal aborted');
  const second = await within(
    'a call after the abandoned load',
    10_000,
    cache.getOrSet('k', () => 'fresh'),
  );
  assert.equal(second, 'fresh', 'the next call ran its own load');
  hung.open('late');
  // The abandoned load ends now; give it the turns it needs to (not) store.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(await cache.get('k'), 'fresh', 'memory keeps the newer load');
  const raw = await admin.get(`${prefix}k`);
  assert.ok(raw?.endsWith('"fresh"'), `Redis keeps the newer load, holds ${raw}`);
  assert.equal(await metric(registry, 'scaleplane_cache_loader_calls_total', { outcome: 'timeout' }), 1);
  assert.equal(await metric(registry, 'scaleplane_cache_loader_calls_total', { outcome: 'ok' }), 1);
});

test('hardTimeout with a value in its grace window answers it instead of the timeout error', async (t) => {
  const clock = fakeClock();
  const cache = closing(
    t,
    createCache({
      prefix: prefixFor('hard-grace'),
      redis: { url: SHARED_REDIS_URL },
      clock,
      jitter: 0,
      ttl: 1000,
      staleIfError: 60_000,
    }),
  );
  await cache.getOrSet('k', () => 'v1');
  clock.advance(2000);
  const answer = await within(
    'the abandoned load',
    10_000,
    cache.getOrSet('k', () => new Promise<string>(() => {}), { hardTimeout: '50ms' }),
  );
  assert.equal(answer, 'v1');
  assert.throws(
    () => createCache({ hardTimeout: 0 }),
    (e: CacheError & { option?: string }) => e.option === 'hardTimeout',
    'hardTimeout 0 is refused naming the option',
  );
});

test('ready() resolves false by its deadline when Redis is down, and true when it answers', async (t) => {
  const port = await freePort();
  const down = closing(
    t,
    createCache({ prefix: prefixFor('ready'), redis: { url: `redis://127.0.0.1:${port}` } }),
  );
  down.on('error', () => {});
  assert.equal(
    await within('ready(200) with Redis down', 10_000, down.ready(200)),
    false,
    'ready said false at its deadline',
  );
  const up = closing(t, createCache({ prefix: prefixFor('ready-up'), redis: { url: SHARED_REDIS_URL } }));
  assert.equal(await up.ready(5000), true, 'ready with Redis up');
  assert.equal(up.busUp, true, 'subscribed once ready');
});

test('a load that outlived the timeout stops answering with its stale value once the key is deleted elsewhere', async (t) => {
  const clock = fakeClock();
  const prefix = prefixFor('late-delete');
  const options = {
    prefix,
    redis: { url: SHARED_REDIS_URL },
    clock,
    jitter: 0,
    ttl: 1000,
    staleIfError: 60_000,
  };
  const a = closing(t, createCache(options));
  const b = closing(t, createCache(options));
  assert.equal(await a.ready(), true, 'A ready');
  assert.equal(await b.ready(), true, 'B ready');
  await a.getOrSet('k', () => 'v1');
  clock.advance(2000);
  const slow = gate<string>();
  assert.equal(await a.getOrSet('k', () => slow.opened, { timeout: 20 }), 'v1', 'stale at the timeout');
  const evicted = new Promise((resolve) => a.once('invalidate', resolve));
  await b.delete('k');
  await within('B’s delete notice at A', 10_000, evicted);
  // v1 was deleted: it is no answer any more, timeout or not; a load of its own is.
  const after = await within(
    'the call after the delete',
    10_000,
    a.getOrSet('k', () => 'v3', { timeout: 20 }),
  );
  assert.equal(after, 'v3', `A answered ${String(after)} after B deleted the key`);
  slow.open('v2-from-before');
  await until(async () => (await a.get('k')) === 'v3', 10_000, 'A keeps v3');
});

test('signal: a caller that aborts stops waiting at once; the load it shared goes on for the others and is stored', async (t) => {
  const prefix = prefixFor('signal');
  const cache = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, jitter: 0 }));
  assert.equal(await cache.ready(), true, 'Redis answers');
  const slow = gate<string>();
  let loads = 0;
  const loader = () => {
    loads++;
    return slow.opened;
  };
  const controller = new AbortController();
  const leaving = cache.getOrSet('k', loader, { signal: controller.signal });
  const staying = cache.getOrSet('k', loader);
  await until(() => loads === 1, 10_000, 'the load to start');
  controller.abort(new Error('client went away'));
  const left = await within(
    'the aborted caller',
    10_000,
    leaving.then(
      (value) => `resolved ${value}`,
      (error: Error) => error.message,
    ),
  );
  assert.equal(left, 'client went away', `the aborted caller got: ${left}`);
  slow.open('v1');
  assert.equal(await within('the other caller', 10_000, staying), 'v1');
  assert.equal(loads, 1, `one load, saw ${loads}`);
  assert.ok((await admin.get(`${prefix}k`))?.endsWith('"v1"'), 'the shared load was stored');
  const already = AbortSignal.abort(new Error('gone before'));
  await assert.rejects(cache.getOrSet('other', loader, { signal: already }), /gone before/);
  assert.equal(loads, 1, 'an aborted signal starts no load');
  await assert.rejects(
    cache.getOrSet('k', loader, { signal: 'soon' as unknown as AbortSignal }),
    (e: CacheError & { option?: string }) => e.option === 'signal',
  );
});
