// One conformance suite for both HTTP cache stores: memory, and Redis (the shared one at 6379,
// under a key prefix unique to this run).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  type HttpCacheStore,
  MAX_VARIANTS,
  MemoryHttpStore,
  primaryKey,
  purgeTarget,
  RedisHttpStore,
  type StoredResponse,
} from '../../../src/balancer/cache/index.js';
import { removeKeys } from './helpers.js';

const NOW = 1_800_000_000_000;

function response(overrides: Partial<StoredResponse> = {}): StoredResponse {
  return {
    status: 200,
    statusMessage: 'OK',
    headers: ['Content-Type', 'text/plain'],
    body: Buffer.from('body'),
    tags: [],
    vary: [],
    variant: '',
    etag: undefined,
    lastModified: undefined,
    responseTime: NOW,
    freshFor: 60_000,
    source: 'max-age',
    initialAge: 0,
    staleWhileRevalidate: 0,
    staleIfError: 0,
    noCache: false,
    mustRevalidate: false,
    expiresAt: NOW + 60_000,
    ...overrides,
  };
}

const selector = (s: { urls?: string[]; prefix?: string; tags?: string[] }) => ({
  urls: (s.urls ?? []).map((u) => purgeTarget(u)!),
  prefixes: s.prefix === undefined ? [] : [purgeTarget(s.prefix)!],
  tags: s.tags ?? [],
});

function conformance(name: string, make: () => Promise<HttpCacheStore>): void {
  describe(`http cache store: ${name}`, () => {
    test('put and get keep status, headers and the exact body bytes; expired entries are gone', async (t) => {
      const store = await make();
      t.after(() => store.close());
      const key = primaryKey('a.example', '/x?y=1');
      const body = Buffer.from([0, 1, 2, 255, 10, 13]);
      await store.put(key, response({ body, headers: ['X-A', '1', 'X-A', '2'] }), NOW);
      const [got] = await store.get(key, NOW + 1);
      assert.deepEqual(got!.body, body);
      assert.deepEqual(got!.headers, ['X-A', '1', 'X-A', '2']);
      assert.equal(got!.freshFor, 60_000);
      assert.deepEqual(await store.get(key, NOW + 60_000), []);
      assert.deepEqual(await store.get(primaryKey('b.example', '/x?y=1'), NOW), []);
    });

    test('variants live side by side; a changed Vary replaces them all', async (t) => {
      const store = await make();
      t.after(() => store.close());
      const key = primaryKey('a.example', '/v');
      const names = ['accept-language'];
      await store.put(key, response({ vary: names, variant: '["en"]', body: Buffer.from('en') }), NOW);
      await store.put(key, response({ vary: names, variant: '["fr"]', body: Buffer.from('fr') }), NOW);
      await store.put(key, response({ vary: names, variant: '["en"]', body: Buffer.from('en2') }), NOW);
      const variants = await store.get(key, NOW);
      assert.deepEqual(variants.map((v) => v.body.toString()).sort(), ['en2', 'fr']);
      await store.put(key, response({ vary: ['accept'], variant: '["x"]', body: Buffer.from('x') }), NOW);
      assert.deepEqual(
        (await store.get(key, NOW)).map((v) => v.body.toString()),
        ['x'],
      );
    });

    test('remove drops one variant and keeps the others; a second remove finds nothing', async (t) => {
      const store = await make();
      t.after(() => store.close());
      const key = primaryKey('a.example', '/rm');
      const vary = ['accept-language'];
      for (const lang of ['en', 'fr'])
        await store.put(key, response({ vary, variant: `["${lang}"]`, body: Buffer.from(lang) }), NOW);
      assert.equal(await store.remove(key, '["en"]'), true, 'the en variant was there');
      assert.deepEqual(
        (await store.get(key, NOW)).map((v) => v.body.toString()),
        ['fr'],
      );
      assert.deepEqual(await store.get(key, NOW, () => '["en"]'), [], 'en is a miss');
      assert.equal(await store.remove(key, '["en"]'), false, 'already gone');
      assert.equal(await store.remove(key, '["fr"]'), true, 'the fr variant was there');
      assert.deepEqual(await store.get(key, NOW), []);
      assert.equal(await store.remove(primaryKey('a.example', '/none'), ''), false, 'no such key');
    });

    test("a lookup with the request's variant reads only that variant", async (t) => {
      const store = await make();
      t.after(() => store.close());
      const key = primaryKey('a.example', '/lang');
      const vary = ['accept-language'];
      for (const lang of ['en', 'fr', 'de'])
        await store.put(key, response({ vary, variant: `["${lang}"]`, body: Buffer.from(lang) }), NOW);
      const asked: (readonly string[])[] = [];
      const got = await store.get(key, NOW, (names) => {
        asked.push(names);
        return '["fr"]';
      });
      assert.deepEqual(
        got.map((v) => v.body.toString()),
        ['fr'],
      );
      assert.deepEqual(asked[0], vary);
      assert.deepEqual(await store.get(key, NOW, () => '["it"]'), []);
      const plain = primaryKey('a.example', '/plain');
      await store.put(plain, response(), NOW);
      assert.equal((await store.get(plain, NOW, () => '')).length, 1);
    });

    test(`one key holds at most ${MAX_VARIANTS} variants, the one just stored among them`, async (t) => {
      const store = await make();
      t.after(() => store.close());
      const key = primaryKey('a.example', '/junk');
      const vary = ['x-junk'];
      for (let i = 0; i < MAX_VARIANTS * 3; i++)
        await store.put(key, response({ vary, variant: `["${i}"]`, body: Buffer.from(String(i)) }), NOW);
      const variants = await store.get(key, NOW);
      assert.ok(variants.length <= MAX_VARIANTS, `${variants.length} variants`);
      assert.ok(
        variants.some((v) => v.variant === `["${MAX_VARIANTS * 3 - 1}"]`),
        `the newest variant ["${MAX_VARIANTS * 3 - 1}"] is kept`,
      );
    });

    test('purge by URL (one host or all), by prefix and by tag', async (t) => {
      const store = await make();
      t.after(() => store.close());
      const put = (host: string, path: string, tags: string[] = []) =>
        store.put(primaryKey(host, path), response({ tags }), NOW);
      await put('a.example', '/p/1', ['t1']);
      await put('b.example', '/p/1');
      await put('a.example', '/p/2', ['t1', 't2']);
      await put('a.example', '/q/1', ['t2']);
      await put('a.example', '/[odd]*?', []);
      const has = async (host: string, path: string) =>
        (await store.get(primaryKey(host, path), NOW)).length > 0;

      assert.equal(await store.purge(selector({ urls: ['https://a.example/p/1'] })), 1);
      assert.equal(await has('a.example', '/p/1'), false);
      assert.equal(await has('b.example', '/p/1'), true);
      await put('a.example', '/p/1');
      assert.equal(await store.purge(selector({ urls: ['/p/1'] })), 2, 'a path purges it on every host');
      assert.equal(await store.purge(selector({ tags: ['t2'] })), 2);
      assert.equal(await has('a.example', '/p/2'), false);
      assert.equal(await has('a.example', '/q/1'), false);
      await put('a.example', '/p/3');
      await put('a.example', '/p/4');
      assert.equal(await store.purge(selector({ prefix: '/p/' })), 2);
      assert.equal(await store.purge(selector({ urls: ['/[odd]*?'] })), 1, 'glob characters are literal');
      assert.equal(await store.purge(selector({ tags: ['nothing'] })), 0);
    });

    test('purge by host: every port without one in the URL; that port (and the portless key) with one', async (t) => {
      const store = await make();
      t.after(() => store.close());
      const hosts = ['shop.example', 'shop.example:8443', 'shop.example:9000', 'other.example:8443'];
      const fill = async () => {
        for (const host of hosts) await store.put(primaryKey(host, '/x'), response(), NOW);
        await store.put(primaryKey('shop.example:8443', '/y'), response(), NOW);
      };
      const has = async (host: string, path = '/x') =>
        (await store.get(primaryKey(host, path), NOW)).length > 0;

      await fill();
      assert.equal(
        await store.purge(selector({ urls: ['https://shop.example/x'] })),
        3,
        'shop at every port',
      );
      assert.equal(await has('other.example:8443'), true);
      assert.equal(await has('shop.example:8443', '/y'), true);

      await fill();
      assert.equal(await store.purge(selector({ urls: ['https://shop.example:8443/x'] })), 2);
      assert.equal(await has('shop.example'), false, 'the portless key: what the balancer port stores');
      assert.equal(await has('shop.example:8443'), false);
      assert.equal(await has('shop.example:9000'), true, 'another port stays');

      await fill();
      assert.equal(await store.purge(selector({ prefix: 'https://shop.example/' })), 4);
      assert.equal(await has('other.example:8443'), true);
      await fill();
      assert.equal(await store.purge(selector({ prefix: '//shop.example:8443/' })), 3);
      assert.equal(await has('shop.example:9000'), true);
    });
  });
}

conformance('memory', async () => new MemoryHttpStore({ maxEntries: 100, maxBytes: 1 << 20 }));

const prefix = `test:http-cache:${randomUUID()}:`;
// The store's purge counter and log never expire: the file's prefix is removed after its tests.
after(() => removeKeys(prefix));
conformance('redis', async () => {
  const store = new RedisHttpStore({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix });
  await store.ready();
  return store;
});

describe('http cache store: memory bounds', () => {
  test('least recently used keys go first when entries or bytes run out', async () => {
    const store = new MemoryHttpStore({ maxEntries: 3, maxBytes: 1 << 20 });
    for (const path of ['/1', '/2', '/3']) await store.put(primaryKey('h', path), response(), NOW);
    await store.get(primaryKey('h', '/1'), NOW);
    await store.put(primaryKey('h', '/4'), response(), NOW);
    assert.equal((await store.get(primaryKey('h', '/2'), NOW)).length, 0, '/2 was least recently used');
    assert.equal((await store.get(primaryKey('h', '/1'), NOW)).length, 1);
    assert.equal(store.usage().entries, 3);

    const small = new MemoryHttpStore({ maxEntries: 100, maxBytes: 2000 });
    const big = response({ body: Buffer.alloc(700) });
    for (const path of ['/a', '/b', '/c']) await small.put(primaryKey('h', path), big, NOW);
    assert.ok(small.usage().bytes <= 2000, 'small.usage().bytes <= 2000');
    assert.equal(small.usage().entries, 2);
    await small.put(primaryKey('h', '/huge'), response({ body: Buffer.alloc(5000) }), NOW);
    assert.equal((await small.get(primaryKey('h', '/huge'), NOW)).length, 0, 'larger than the whole budget');
  });
});

describe('http cache store: redis', () => {
  test('keys expire in Redis with their longest-lived variant', async (t) => {
    const store = new RedisHttpStore({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix });
    t.after(() => store.close());
    await store.ready();
    const redis = new Redis('redis://127.0.0.1:6379');
    t.after(() => redis.quit());
    const key = primaryKey('ttl.example', '/t');
    const now = Date.now();
    await store.put(key, response({ variant: '["a"]', vary: ['x'], expiresAt: now + 50_000 }), now);
    await store.put(key, response({ variant: '["b"]', vary: ['x'], expiresAt: now + 5_000 }), now);
    const ttl = await redis.pttl(`${prefix}e:${key}`);
    assert.ok(ttl > 40_000 && ttl <= 50_000, `ttl ${ttl}`);
    await store.purge({ urls: [purgeTarget('http://ttl.example/t')!], prefixes: [], tags: [] });
    const left = await redis.keys(`${prefix}*`);
    assert.ok(!left.some((k) => k.includes('ttl.example')), "!left.some((k) => k.includes('ttl.example'))");
  });
});

describe('http cache store: redis tag sets', () => {
  test("a tag's set drops the keys whose entries expired or were evicted, and keeps every live one", async (t) => {
    const own = `test:http-cache-tags:${randomUUID()}:`;
    const store = new RedisHttpStore({ url: 'redis://127.0.0.1:6379', keyPrefix: own });
    const redis = new Redis('redis://127.0.0.1:6379');
    t.after(async () => {
      await store.close();
      const keys = await redis.keys(`${own}*`);
      if (keys.length > 0) await redis.unlink(...keys);
      await redis.quit();
    });
    await store.ready();
    const now = Date.now();
    const tagged = response({ tags: ['product-list'], expiresAt: now + 3_600_000 });
    const live = Array.from({ length: 10 }, (_, i) => primaryKey('shop.example', `/top/${i}`));
    for (const key of live) await store.put(key, tagged, now);
    // Search pages keyed by query, each stored once and then evicted (UNLINK stands in for an
    // eviction or an expiry: Redis removes the key the same way).
    for (let i = 0; i < 400; i++) {
      const key = primaryKey('shop.example', `/search?q=${i}`);
      await store.put(key, tagged, now);
      await redis.unlink(`${own}e:${key}`);
    }
    const members = await redis.smembers(`${own}t:product-list`);
    assert.ok(
      members.length < 60,
      `the tag's set holds ${members.length} keys for 10 live ones (410 without pruning)`,
    );
    assert.deepEqual(
      live.filter((key) => !members.includes(key)),
      [],
      "live keys pruned from their tag's set",
    );
    assert.equal(await store.purge(selector({ tags: ['product-list'] })), 10, 'entries purged by the tag');
  });
});
