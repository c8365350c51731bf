import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { type CacheError, CacheOptionError, createCache } from '../../src/cache/index.js';
import { cacheTagIndex } from '../../src/cache/redis-tier.js';
import { defineScripts } from '../../src/cache/scripts.js';
import { pruneTagSample } from '../../src/cache/tag-prune.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const found = (await registry.getSingleMetric(name)?.get())?.values.find((v) =>
    Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  return found?.value ?? 0;
}

test('memory tier: single-flight calls the loader once for 100 concurrent misses', async () => {
  const cache = createCache({ ttl: 1000 });
  let calls = 0;
  const values = await Promise.all(
    Array.from({ length: 100 }, () =>
      cache.getOrSet('k', async () => {
        calls++;
        await delay(20);
        return { n: 1 };
      }),
    ),
  );
  assert.equal(calls, 1);
  assert.ok(
    values.every((v) => v.n === 1),
    'values.every((v) => v.n === 1)',
  );
  await cache.close();
});

test('stale-while-revalidate serves the old value and refreshes once in the background', async () => {
  const clock = fakeClock();
  const registry = new Registry();
  const cache = createCache({ clock, registry, jitter: 0, ttl: 1000, staleWhileRevalidate: 500 });
  let version = 0;
  const loader = async () => {
    await delay(20);
    return ++version;
  };
  assert.equal(await cache.getOrSet('k', loader), 1);
  clock.advance(1200);
  assert.equal(await cache.getOrSet('k', loader), 1, 'stale value served');
  assert.equal(await cache.getOrSet('k', loader), 1, 'still stale while refreshing');
  await until(() => version >= 2, 10_000, 'the background refresh');
  assert.equal(await cache.getOrSet('k', loader), 2);
  assert.equal(await metric(registry, 'scaleplane_cache_stale_serves_total', { reason: 'revalidate' }), 2);
  // close() waits for background work, so a second refresh would have counted by now.
  await cache.close();
  assert.equal(version, 2, 'exactly one background refresh');
});

test('early refresh reloads in the background before expiry', async () => {
  const clock = fakeClock();
  const cache = createCache({ clock, jitter: 0, ttl: 1000, earlyRefresh: 0.8 });
  let version = 0;
  const loader = () => ++version;
  await cache.getOrSet('k', loader);
  clock.advance(799);
  assert.equal(await cache.getOrSet('k', loader), 1);
  assert.equal(version, 1);
  clock.advance(1);
  assert.equal(await cache.getOrSet('k', loader), 1);
  await until(() => version === 2, 10_000, 'the background refresh');
  assert.equal(await cache.getOrSet('k', loader), 2);
  await cache.close();
});

test('stale-if-error serves the last value in the grace period, then throws the loader error', async () => {
  const clock = fakeClock();
  const registry = new Registry();
  const cache = createCache({ clock, registry, jitter: 0, ttl: 1000, staleIfError: 5000 });
  await cache.getOrSet('k', () => 'good');
  clock.advance(2000);
  const failing = async () => {
    throw new Error('db down');
  };
  assert.equal(await cache.getOrSet('k', failing), 'good');
  assert.equal(await metric(registry, 'scaleplane_cache_stale_serves_total', { reason: 'error' }), 1);
  clock.advance(4000);
  await assert.rejects(cache.getOrSet('k', failing), /db down/);
  assert.equal(await metric(registry, 'scaleplane_cache_loader_calls_total', { outcome: 'error' }), 2);
  await cache.close();
});

test('timeout answers with the stale value while a slow loader finishes in the background', async () => {
  const clock = fakeClock();
  const cache = createCache({ clock, jitter: 0, ttl: 1000, staleIfError: 5000 });
  await cache.getOrSet('k', () => 'old');
  clock.advance(1500);
  const slow = async () => {
    await delay(100);
    return 'new';
  };
  let slowCalls = 0;
  const counted = () => {
    slowCalls++;
    return slow();
  };
  assert.equal(await cache.getOrSet('k', counted, { timeout: 10 }), 'old');
  // get() never loads: it sees 'new' once the load that outlived the timeout has stored it.
  await until(async () => (await cache.get('k')) === 'new', 10_000, 'the slow load stored');
  assert.equal(await cache.getOrSet('k', counted), 'new');
  assert.equal(slowCalls, 1, 'the value came from the load that went on, not a new one');
  await cache.close();
});

test('negative caching keeps a miss for its own TTL; off by default', async () => {
  const clock = fakeClock();
  const cache = createCache({ clock, jitter: 0, ttl: 10_000, negativeTtl: 100 });
  let calls = 0;
  const loader = () => {
    calls++;
    return null;
  };
  assert.equal(await cache.getOrSet('missing', loader), null);
  assert.equal(await cache.getOrSet('missing', loader), null);
  assert.equal(calls, 1);
  clock.advance(100);
  await cache.getOrSet('missing', loader);
  assert.equal(calls, 2);
  await cache.getOrSet('other', loader, { negativeTtl: 0 });
  await cache.getOrSet('other', loader, { negativeTtl: 0 });
  assert.equal(calls, 4);
  await cache.close();
});

test('get/set/delete/deleteByTag, wrap, namespaces and loader context', async () => {
  const cache = createCache();
  await cache.set('a', 1, { tags: ['t'] });
  await cache.set('b', 2, { tags: ['t', 'u'] });
  assert.equal(await cache.get('a'), 1);
  await cache.deleteByTag('t');
  assert.equal(await cache.get('a'), undefined);
  assert.equal(await cache.get('b'), undefined);
  await cache.set('c', 3);
  await cache.delete('c');
  assert.equal(await cache.get('c'), undefined);

  let calls = 0;
  const square = cache.wrap(async function square(n: number) {
    calls++;
    return n * n;
  });
  assert.deepEqual([await square(3), await square(3), await square(4)], [9, 9, 16]);
  assert.equal(calls, 2);
  assert.throws(() => cache.wrap(async () => 1), CacheOptionError);

  const users = cache.namespace('users');
  await users.getOrSet('1', (ctx) => {
    assert.equal(ctx.key, '1');
    ctx.setTags(['team']);
    return 'alice';
  });
  assert.equal(await cache.get('users:1'), 'alice');
  await users.deleteByTag('team');
  assert.equal(await users.get('1'), undefined);
  await cache.close();
  await cache.close();
  await assert.rejects(
    cache.getOrSet('x', () => 1),
    (e: CacheError) => e.code === 'CACHE_CLOSED',
  );
});

test('wrap: arguments JSON cannot tell apart get keys of their own', async () => {
  const cache = createCache({ memory: { maxEntries: 1000 } });
  let calls = 0;
  const describe = cache.wrap(async function describe(arg: unknown) {
    calls++;
    return arg instanceof Set || arg instanceof Map ? [...arg] : String(arg);
  });
  // Each of these made the same JSON as one before it and was answered with that one's result.
  const args: unknown[] = [
    new Set([1]),
    new Set([2]),
    new Map([['a', 1]]),
    new Map([['b', 2]]),
    null,
    undefined,
    new Date(0),
    '1970-01-01T00:00:00.000Z',
    Number.NaN,
    Number.POSITIVE_INFINITY,
    1n,
  ];
  for (const arg of args) {
    const expected = arg instanceof Set || arg instanceof Map ? [...arg] : String(arg);
    assert.deepEqual(await describe(arg), expected, `wrap(${String(arg)})`);
  }
  assert.equal(calls, args.length, 'one load per distinct argument');
  assert.deepEqual(await describe(new Set([2])), [2], 'and hits for an equal one');
  assert.equal(calls, args.length);
  // Plain JSON arguments keep the keys they had.
  let plain = 0;
  const add = cache.wrap(async function add(a: number, b: { c: string }) {
    plain++;
    return `${a}${b.c}`;
  });
  assert.equal(await add(1, { c: 'x' }), '1x');
  assert.equal(await cache.get('add:[1,{"c":"x"}]'), '1x');
  assert.equal(plain, 1);
  await cache.close();
});

test('options are validated eagerly with the option named', () => {
  const cases: [object, string][] = [
    [{ ttl: -1 }, 'ttl'],
    [{ ttl: 'soon' }, 'ttl'],
    [{ jitter: 2 }, 'jitter'],
    [{ staleIfErrorBackoff: -1 }, 'staleIfErrorBackoff'],
    [{ memory: { maxEntries: 1.5 } }, 'memory.maxEntries'],
    [{ memory: { maxBytes: 'lots' } }, 'memory.maxBytes'],
    [{ lock: true }, 'lock'],
    [{ redis: { url: 'redis://127.0.0.1:1', cluster: { nodes: [{ port: 1 }] } } }, 'redis.cluster'],
    [{ redis: { sentinel: { sentinels: [], name: 'm' } } }, 'redis.sentinel.sentinels'],
    [{ redis: { cluster: { nodes: [] } } }, 'redis.cluster.nodes'],
    // Plain-JS callers and typos: each names the field instead of a TypeError or a silent default.
    [{ tll: '1m' }, 'tll'],
    [{ redis: { url: 'redis://127.0.0.1:1', comandTimeout: 100 } }, 'redis.comandTimeout'],
    [{ redis: 'redis://127.0.0.1:6379' }, 'redis'],
    [{ redis: { url: 6379 } }, 'redis.url'],
    [{ redis: { client: {} } }, 'redis.client'],
    [{ redis: { sentinel: { name: 'm' } } }, 'redis.sentinel.sentinels'],
    [{ redis: { sentinel: { sentinels: [{ host: 'h', port: 1 }] } } }, 'redis.sentinel.name'],
    [{ redis: { cluster: {} } }, 'redis.cluster.nodes'],
    [{ redis: { url: 'redis://127.0.0.1:1', commandTimeout: 0 } }, 'redis.commandTimeout'],
    [
      { redis: { url: 'redis://127.0.0.1:1', breaker: { failureThreshold: 0 } } },
      'redis.breaker.failureThreshold',
    ],
    [
      { redis: { url: 'redis://127.0.0.1:1', reconnect: { baseMs: 500, maxMs: 100 } } },
      'redis.reconnect.maxMs',
    ],
    [{ redis: { url: 'redis://127.0.0.1:1', tombstoneTtl: 0 } }, 'redis.tombstoneTtl'],
    [{ redis: { url: 'redis://127.0.0.1:1', tombstoneTtl: 'a while' } }, 'redis.tombstoneTtl'],
    [{ redis: { url: 'redis://127.0.0.1:1' }, lock: { ttl: 0 } }, 'lock.ttl'],
    [{ redis: { url: 'redis://127.0.0.1:1' }, lock: 'yes' }, 'lock'],
    [{ memory: 'big' }, 'memory'],
    [{ serializer: {} }, 'serializer'],
    [{ registry: {} }, 'registry'],
    [{ clock: {} }, 'clock'],
    [{ logger: {} }, 'logger'],
    [{ invalidation: 'yes' }, 'invalidation'],
  ];
  for (const [options, option] of cases)
    assert.throws(
      () => createCache(options),
      (e: CacheOptionError) => e.code === 'CACHE_INVALID_OPTION' && e.option === option,
      option,
    );
});

test('per-call options name the field: tags, lock', async () => {
  const cache = createCache({});
  const cases: [object, string][] = [
    [{ tags: 'users' }, 'tags'],
    [{ tags: [1] }, 'tags'],
    [{ lock: 'yes' }, 'lock'],
    [{ staleIfErrorBackoff: 'later' }, 'staleIfErrorBackoff'],
  ];
  for (const [options, option] of cases)
    await assert.rejects(
      cache.getOrSet('k', () => 1, options as never),
      (e: CacheOptionError) => e.code === 'CACHE_INVALID_OPTION' && e.option === option,
      option,
    );
  await cache.close();
});

test('metrics: counts of several caches on one registry reach a scrape, and survive close', async () => {
  const registry = new Registry();
  const a = createCache({ registry, name: 'a' });
  const b = createCache({ registry, name: 'b' });
  await a.getOrSet('k', () => 1);
  for (let i = 0; i < 3; i++) await a.getOrSet('k', () => 1);
  await b.getOrSet('k', () => 2);
  assert.equal(await metric(registry, 'scaleplane_cache_hits_total', { cache: 'a', tier: 'memory' }), 3);
  assert.equal(await metric(registry, 'scaleplane_cache_misses_total', { cache: 'b', tier: 'memory' }), 1);
  assert.equal(await metric(registry, 'scaleplane_cache_memory_entries', { cache: 'a' }), 1);
  await a.getOrSet('k', () => 1);
  await a.close();
  assert.match(await registry.metrics(), /scaleplane_cache_hits_total\{cache="a",tier="memory"\} 4/);
  assert.equal(
    await metric(registry, 'scaleplane_cache_loader_calls_total', { cache: 'b', outcome: 'ok' }),
    1,
  );
  await b.close();
});

test('memory tier is bounded by entries', async () => {
  const cache = createCache({ memory: { maxEntries: 10 } });
  for (let i = 0; i < 50; i++) await cache.set(`k${i}`, i);
  let held = 0;
  for (let i = 0; i < 50; i++) if (cache.memoryHas(`k${i}`)) held++;
  assert.equal(held, 10);
  await cache.close();
});

// ---- against the machine's Redis (unique prefix per run) ----

let admin: Redis;
const prefix = uniquePrefix('cache');

before(async () => {
  admin = new Redis(SHARED_REDIS_URL);
});

after(async () => {
  await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

/** closing closes `cache` when the test ends, failed or not: an open Redis connection would hold the file. */
function closing<T extends { close(): Promise<void> }>(t: TestContext, cache: T): T {
  t.after(() => cache.close());
  return cache;
}

test('redis tier: two instances share values with types kept; delete and tags reach both tiers', async (t) => {
  const a = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, jitter: 0 }));
  const b = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, jitter: 0 }));
  assert.equal(await a.ready(), true);
  assert.equal(await b.ready(), true);
  const value = { at: new Date('2024-01-02T03:04:05Z'), ids: new Set([1n, 2n]), m: new Map([['x', 1]]) };
  await a.getOrSet('typed', () => value, { tags: ['group'] });
  let calls = 0;
  const fromB = await b.getOrSet('typed', () => {
    calls++;
    return value;
  });
  assert.equal(calls, 0, 'B found it in Redis');
  assert.deepEqual(fromB, value);
  assert.ok(b.memoryHas('typed'), "b.memoryHas('typed')");
  const evicted = new Promise((resolve) => b.once('invalidate', resolve));
  await a.deleteByTag('group');
  await evicted;
  assert.equal(b.memoryHas('typed'), false);
  assert.equal(await admin.exists(`${prefix}__tag:group`), 0);
  // Redis holds a tombstone in its place for a while: a miss to every reader, which loads.
  assert.equal(await b.get('typed'), undefined);
  assert.equal(await a.get('typed'), undefined);
  assert.deepEqual(
    await b.getOrSet('typed', () => {
      calls++;
      return value;
    }),
    value,
  );
  assert.equal(calls, 1, 'B loaded it again');
});

test('redis tier: a Buffer or Uint8Array read from Redis is the one the memory tier gives', async (t) => {
  const a = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
  const b = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, memory: false }));
  assert.equal(await a.ready(), true);
  assert.equal(await b.ready(), true);
  const value = { avatar: Buffer.from([0x89, 0x50, 0x4e, 0x47]), scores: new Uint8Array([3, 1, 4]) };
  await a.set('binary', value);
  assert.deepEqual(await a.get('binary'), value, 'memory tier');
  // Before, B got { avatar: { type: 'Buffer', data: [...] }, scores: { '0': 3, ... } }.
  const fromRedis = await b.get<typeof value>('binary');
  assert.deepEqual(fromRedis, value, 'Redis tier');
  assert.ok(Buffer.isBuffer(fromRedis?.avatar), 'Buffer.isBuffer(fromRedis?.avatar)');
  assert.deepEqual(await b.getOrSet('binary', () => assert.fail('B hits Redis')), value, 'fresh-hit path');
});

/** gatedLoader returns `value` once `open()` is called; `started` resolves when it runs. */
function gatedLoader<T>(value: T) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let started!: () => void;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const loader = async () => {
    started();
    await gate;
    return value;
  };
  return { loader, running, open };
}

test('redis tier: a load in flight when the key is set or deleted does not store its older value', async (t) => {
  const a = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, jitter: 0 }));
  const b = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, jitter: 0 }));
  const reader = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, memory: false }));
  await Promise.all([a.ready(), b.ready(), reader.ready()]);
  const cases: [string, (key: string) => Promise<unknown>, unknown][] = [
    // Another instance writes the new value while A's loader still holds what it read before.
    ['set elsewhere', (key) => b.set(key, 'new'), 'new'],
    ['deleted elsewhere', (key) => b.delete(key), undefined],
    ['tag deleted elsewhere', () => b.deleteByTag('raced-tag'), undefined],
    ['deleted here', (key) => a.delete(key), undefined],
  ];
  for (const [name, change, expected] of cases) {
    const key = `raced:${name}`;
    const { loader, running, open } = gatedLoader('old');
    const load = a.getOrSet(key, loader, { tags: ['raced-tag'] });
    await running;
    const evicted = new Promise((resolve) => a.once('invalidate', resolve));
    await change(key);
    await evicted;
    open();
    // Whoever asked before the change may get what the load read; nobody after it.
    assert.equal(await load, 'old', name);
    assert.equal(await reader.get(key), expected, `${name}: Redis`);
    assert.equal(await a.get(key), expected, `${name}: A's memory tier`);
    assert.equal(await b.get(key), expected, `${name}: B`);
  }
});

test('redis tier: a read answered before another instance deletes the key does not fill memory after the notice', async (t) => {
  // The GET's reply and the invalidation notice come on two connections: the notice can be handled
  // first. A's client holds one GET's reply until A has handled the notice, making that order sure.
  const client = new Redis(SHARED_REDIS_URL);
  t.after(() => client.disconnect());
  const a = closing(t, createCache({ prefix, redis: { client }, jitter: 0 }));
  const b = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, jitter: 0 }));
  await Promise.all([a.ready(), b.ready()]);
  const getBuffer = client.getBuffer.bind(client);
  const cases = [
    ['getOrSet', true],
    ['get', true],
    // Another key's deletion meanwhile leaves the read's memory fill alone.
    ['get', false],
  ] as const;
  for (const [read, same] of cases) {
    const key = `read-raced:${read}:${same}`;
    // B's set sends a notice too: A has it before the read starts.
    const told = new Promise((resolve) => a.once('invalidate', resolve));
    await b.set(key, 'old');
    await told;
    let answered!: () => void;
    const replied = new Promise<void>((resolve) => {
      answered = resolve;
    });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    client.getBuffer = (async (k: string) => {
      const data = await getBuffer(k);
      if (k !== `${prefix}${key}`) return data;
      answered();
      await gate;
      return data;
    }) as typeof client.getBuffer;
    const pending = read === 'get' ? a.get(key) : a.getOrSet(key, () => assert.fail('a hit'));
    await replied;
    const evicted = new Promise((resolve) => a.once('invalidate', resolve));
    await b.delete(same ? key : `${key}:other`);
    await evicted;
    open();
    assert.equal(await pending, 'old', `${read}: answered with what it read`);
    client.getBuffer = getBuffer as typeof client.getBuffer;
    assert.equal(a.memoryHas(key), !same, `${read} ${same}: kept in memory only if not deleted`);
    assert.equal(await a.get(key), same ? undefined : 'old', `${read} ${same}: A reads the deletion`);
  }
});

test('redis tier: a lock holder fills the key and the other instance wakes on the notice', async (t) => {
  // A 10 s poll that the wait never reaches: an answer well before it can only come from the notice,
  // with room for a slow machine.
  const lock = { wait: 20_000, poll: 10_000 };
  const a = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, lock }));
  const b = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL }, lock }));
  await Promise.all([a.ready(), b.ready()]);
  let calls = 0;
  const loader = async () => {
    calls++;
    await delay(100);
    return 'v';
  };
  const started = Date.now();
  const [va, vb] = await Promise.all([a.getOrSet('locked', loader), b.getOrSet('locked', loader)]);
  const elapsed = Date.now() - started;
  assert.deepEqual([va, vb, calls], ['v', 'v', 1]);
  assert.ok(elapsed < 5000, `woken by the fill notice, not the 10 s poll (took ${elapsed} ms)`);
  assert.equal(await admin.exists(`${prefix}__lock:locked`), 0, 'lock released');
});

test('redis tier without memory: hits skip single-flight, concurrent misses still call the loader once', async (t) => {
  const clock = fakeClock(Date.now());
  const registry = new Registry();
  const cache = closing(
    t,
    createCache({
      prefix,
      clock,
      registry,
      memory: false,
      redis: { url: SHARED_REDIS_URL },
      jitter: 0,
      ttl: 1000,
      staleWhileRevalidate: 60_000,
    }),
  );
  await cache.ready();
  let calls = 0;
  // A synchronous loader is the hardest case: its flight could end before the other reads come back.
  const loader = () => ++calls;
  const cold = await Promise.all(Array.from({ length: 200 }, () => cache.getOrSet('coalesced', loader)));
  assert.equal(calls, 1, 'one load for 200 concurrent misses');
  assert.ok(
    cold.every((v) => v === 1),
    'cold.every((v) => v === 1)',
  );
  const hits = await Promise.all(Array.from({ length: 200 }, () => cache.getOrSet('coalesced', loader)));
  assert.ok(
    hits.every((v) => v === 1),
    'hits.every((v) => v === 1)',
  );
  assert.equal(calls, 1, 'hits do not load');
  assert.equal(await metric(registry, 'scaleplane_cache_hits_total', { tier: 'redis' }), 200);
  clock.advance(2000);
  const stale = await Promise.all(Array.from({ length: 50 }, () => cache.getOrSet('coalesced', loader)));
  assert.ok(
    stale.every((v) => v === 1),
    'stale value served from Redis',
  );
  // get() never loads: each turn is one Redis round trip until the refresh has stored its value.
  let turns = 0;
  while ((await cache.get('coalesced')) !== 2) assert.ok(++turns < 10_000, 'refreshed value never stored');
  assert.equal(calls, 2, 'one background refresh for 50 stale hits');
});

test('redis tier without memory: a fresh hit is read from the bytes — tags, UTF-8, types, negatives, and unreadable values', async (t) => {
  const registry = new Registry();
  const cache = closing(
    t,
    createCache({
      prefix: `${prefix}bytes:`,
      registry,
      memory: false,
      redis: { url: SHARED_REDIS_URL },
      ttl: '1m',
      negativeTtl: '1m',
    }),
  );
  const errors: CacheError[] = [];
  cache.on('error', (error) => errors.push(error));
  await cache.ready();
  const never = () => {
    throw new Error('a hit must not load');
  };
  const value = { name: 'Zoë 🚀', at: new Date('2024-05-06T07:08:09.010Z'), ids: new Set([1, 2]) };
  await cache.set('tagged', value, { tags: ['tàg', '标签'] });
  assert.deepEqual(await cache.getOrSet('tagged', never), value);
  assert.equal(await cache.getOrSet('missing', () => null), null);
  assert.equal(await cache.getOrSet('missing', never), null, 'the negative entry is a hit');
  assert.equal(await metric(registry, 'scaleplane_cache_hits_total', { tier: 'redis' }), 2);

  // A payload the serializer cannot read, under a header that says fresh, and data that is not ours:
  // both are misses that load, and each is reported once.
  await admin.set(
    `${prefix}bytes:garbled`,
    `sp2 ${Date.now()} 60000 60000 60000 60000 0\n[]\n{not json`,
    'EX',
    60,
  );
  await admin.set(`${prefix}bytes:foreign`, 'hello', 'EX', 60);
  assert.equal(await cache.getOrSet('garbled', () => 'loaded'), 'loaded');
  assert.equal(await cache.getOrSet('foreign', () => 'loaded'), 'loaded');
  assert.deepEqual(
    errors.map((e) => e.code),
    ['CACHE_DESERIALIZE', 'CACHE_DESERIALIZE'],
  );
  assert.equal(await cache.getOrSet('garbled', never), 'loaded', 'the load replaced it');
});

test('redis tier: an injected client is used and not closed', async (t) => {
  const client = new Redis(SHARED_REDIS_URL, { commandTimeout: 500 });
  t.after(() => client.disconnect());
  const cache = closing(t, createCache({ prefix, redis: { client } }));
  await cache.ready();
  await cache.set('injected', 'yes', { ttl: '1m' });
  assert.match((await admin.get(`${prefix}injected`)) ?? '', /yes/);
  await cache.close();
  assert.equal(await client.ping(), 'PONG');
});

test("keys named like the cache's own (__tag:…, __lock:…) are values of their own, not its tag index or lock", async (t) => {
  const own = uniquePrefix('collide');
  t.after(() => cleanupPrefix(admin, own));
  const a = closing(
    t,
    createCache({ prefix: own, redis: { url: SHARED_REDIS_URL }, memory: false, lock: true }),
  );
  const errors: string[] = [];
  a.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
  assert.equal(await a.ready(), true, 'a.ready()');
  assert.equal(await a.getOrSet('u1', () => 'user 1', { tags: ['users'] }), 'user 1', 'u1 loaded');
  await a.set('__tag:users', 'a value of mine');
  assert.equal(await a.get('__tag:users'), 'a value of mine', 'the value named __tag:users');
  await a.deleteByTag('users');
  assert.equal(
    await a.get('u1'),
    undefined,
    "u1 survived deleteByTag('users'): its tag index was overwritten",
  );
  // While a load of 'k' holds its lock, a value named __lock:k is nothing of the lock's.
  const gate = gatedLoader('k');
  const loading = a.getOrSet('k', gate.loader);
  await gate.running;
  assert.equal(await a.get('__lock:k'), undefined, "the lock of 'k' read as the value named __lock:k");
  gate.open();
  assert.equal(await loading, 'k');
  assert.deepEqual(errors, [], 'errors');
});

test('redis tier: a failing loader is left alone for staleIfErrorBackoff while the stale value stands in', async (t) => {
  // While the database was down, every read past the TTL called the loader again (10 reads, 10
  // calls), and every stale hit started another background refresh.
  const clock = fakeClock(Date.now());
  const registry = new Registry();
  const cache = closing(
    t,
    createCache({
      prefix,
      clock,
      registry,
      jitter: 0,
      ttl: 1000,
      staleIfError: 600_000,
      redis: { url: SHARED_REDIS_URL },
    }),
  );
  cache.on('error', () => {}); // the failed refreshes are reported; the point is how many there are
  assert.equal(await cache.ready(), true, 'cache ready');
  let calls = 0;
  const failing = async (): Promise<string> => {
    calls++;
    throw new Error('db down');
  };
  await cache.getOrSet('backoff', () => 'good');
  clock.advance(2000);
  for (let i = 0; i < 10; i++)
    assert.equal(await cache.getOrSet('backoff', failing), 'good', `read ${i} gets the stale value`);
  assert.equal(calls, 1, `the failing loader was called ${calls} times by 10 reads within the backoff`);
  assert.equal(
    await metric(registry, 'scaleplane_cache_stale_serves_total', { reason: 'error' }),
    10,
    'every read counted as a stale serve for an error',
  );
  clock.advance(10_000); // the default backoff, 10 s, has passed: the next read tries again
  assert.equal(await cache.getOrSet('backoff', failing), 'good', 'the stale value after the backoff');
  assert.equal(calls, 2, 'the loader is tried again once the backoff has passed');
  clock.advance(10_000);
  assert.equal(await cache.getOrSet('backoff', () => 'back'), 'back', 'the database is back');
  // Stale-while-revalidate: a failed background refresh is not started again by every stale hit.
  await cache.getOrSet('swr', () => 'old', { staleWhileRevalidate: 600_000 });
  clock.advance(2000);
  for (let i = 0; i < 10; i++) {
    assert.equal(
      await cache.getOrSet('swr', failing, { staleWhileRevalidate: 600_000 }),
      'old',
      `stale hit ${i} gets the stale value`,
    );
    // Each hit's refresh, if it started one, has ended before the next hit.
    await until(() => !cache.loading('swr'), 10_000, `the refresh after stale hit ${i}`);
  }
  assert.equal(calls, 3, `10 stale hits started ${calls - 2} refreshes of a failing loader`);
  // Off (0): every read tries the loader, as before.
  clock.advance(600_000);
  await cache.getOrSet('off', () => 'good', { staleIfErrorBackoff: 0 });
  clock.advance(2000);
  for (let i = 0; i < 3; i++) await cache.getOrSet('off', failing, { staleIfErrorBackoff: 0 });
  assert.equal(calls, 6, 'with staleIfErrorBackoff 0 every read calls the loader');
});

test('setTags given a string in a loader is refused naming it, in either tier and in a namespace', async (t) => {
  // Before, a string was taken as its characters: the memory tier indexed the entry under 'u', 's', …
  // (deleteByTag('users') left it), the Redis tier failed the load with "tags.map is not a function".
  const memoryOnly = closing(t, createCache({}));
  const tiered = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
  assert.equal(await tiered.ready(), true, 'tiered cache ready');
  const caches = [
    ['memory only', memoryOnly],
    ['memory and Redis', tiered],
    ['a namespace', tiered.namespace('ns')],
  ] as const;
  for (const [name, cache] of caches)
    await assert.rejects(
      cache.getOrSet(`settags-${name}`, (context) => {
        context.setTags('users' as unknown as string[]);
        return 1;
      }),
      (e: CacheOptionError) => e.code === 'CACHE_INVALID_OPTION' && e.option === 'setTags',
      `${name}: setTags('users') is refused with CACHE_INVALID_OPTION naming setTags`,
    );
});

test('a tag index drops the keys that expired or were evicted, and keeps every live one', async (t) => {
  const own = uniquePrefix('tagprune');
  t.after(() => cleanupPrefix(admin, own));
  const a = closing(
    t,
    createCache({ prefix: own, redis: { url: SHARED_REDIS_URL }, memory: false, ttl: 3_600_000 }),
  );
  const errors: string[] = [];
  a.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
  assert.equal(await a.ready(), true, 'a.ready()');
  const live = Array.from({ length: 10 }, (_, i) => `live-${i}`);
  for (const key of live) await a.set(key, key, { tags: ['products'] });
  // Search results keyed by query: each written once, then gone (expired or evicted; UNLINK stands
  // in for both, as Redis removes the key the same way).
  for (let i = 0; i < 400; i++) {
    await a.set(`search-${i}`, i, { tags: ['products'] });
    await admin.unlink(`${own}search-${i}`);
  }
  const index = await admin.smembers(`${own}__tag:products`);
  assert.ok(
    index.length < 60,
    `the index holds ${index.length} members for 10 live keys (410 without pruning)`,
  );
  const missing = live.filter((key) => !index.includes(`${own}${key}`));
  assert.deepEqual(missing, [], 'live keys pruned from their tag index');
  assert.ok((await admin.pttl(`${own}__tag:products`)) > 0, 'the index keeps its expiry');
  await a.deleteByTag('products');
  for (const key of live)
    assert.equal(
      await a.get(key),
      undefined,
      `${key} survived deleteByTag (errors: ${errors.join('; ') || 'none'})`,
    );
  assert.deepEqual(errors, [], 'errors');
});

test('deleteByTag of a tag listing 10,000 keys goes in steps the command timeout bounds, and is done when it resolves', async (t) => {
  // One SMEMBERS, one SREM of every member and all the tombstones were one write timed at 500 ms as
  // a whole: a large tag timed out, went to the offline queue, and deleteByTag resolved with its keys
  // still in Redis (and timed out again at each replay).
  const own = uniquePrefix('bigtag');
  t.after(() => cleanupPrefix(admin, own));
  const n = 10_000;
  const tagKey = `${own}__tag:big`;
  const keys = Array.from({ length: n }, (_, i) => `${own}k${i}`);
  // Written and read back 2,000 at a time: a longer pipeline holds the shared Redis for the other files.
  for (let from = 0; from < n; from += 2000) {
    const chunk = keys.slice(from, from + 2000);
    const fill = admin.pipeline();
    for (const key of chunk)
      fill.set(key, `sp2 ${Date.now()} 600000 600000 600000 600000 0\n["big"]\n1`, 'PX', 600_000);
    fill.sadd(tagKey, ...chunk).pexpire(tagKey, 600_000);
    await fill.exec();
  }
  const a = closing(t, createCache({ prefix: own, redis: { url: SHARED_REDIS_URL }, memory: false }));
  const errors: string[] = [];
  a.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
  assert.equal(await a.ready(), true, 'a.ready()');
  await a.deleteByTag('big');
  // A tombstone, or no key once the first chunks' tombstones expired (10 s) on a slow machine.
  let left = 0;
  for (let from = 0; from < n; from += 2000)
    for (const value of await admin.mget(...keys.slice(from, from + 2000)))
      if (value !== null && !value.startsWith('spdel ')) left++;
  assert.deepEqual(errors, [], 'errors while deleteByTag ran');
  assert.equal(left, 0, `${left} of ${n} keys still held their value when deleteByTag resolved`);
  assert.equal(await admin.exists(tagKey), 0, 'the emptied index is gone');
});

test('a prune puts back a member written again between its check and its removal', async (t) => {
  const own = uniquePrefix('tagrevive');
  t.after(() => cleanupPrefix(admin, own));
  const tagKey = `${own}__tag:t`;
  const raced = `${own}raced`;
  await admin.sadd(tagKey, raced);
  await admin.pexpire(tagKey, 60_000);
  // The writer's SET and TAG_ADD land after the prune saw `raced` missing, before its SREM returns:
  // the SREM emptied the index (deleting it, and its expiry), so the writer's SADD was lost too.
  const racing = new Proxy(admin, {
    get(target, name, receiver) {
      if (name !== 'srem') return Reflect.get(target, name, receiver);
      return async (key: string, ...members: string[]) => {
        await target.sadd(key, raced);
        await target.set(raced, 'v', 'PX', 30_000);
        return target.srem(key, ...members);
      };
    },
  });
  defineScripts(admin);
  assert.equal(await pruneTagSample(racing, cacheTagIndex(admin, tagKey)), 0, 'members removed');
  assert.deepEqual(await admin.smembers(tagKey), [raced], 'the index after the prune');
  const ttl = await admin.pttl(tagKey);
  assert.ok(
    ttl > 0 && ttl <= 30_000,
    `the index's expiry after the prune: ${ttl} ms (covering the key's 30 s)`,
  );
});
