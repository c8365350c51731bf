// Redis storage end to end: two balancers share one cache in the real Redis at 6379 (under a key
// prefix unique to this run), and a cache whose Redis is unreachable still answers from the backend.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Balancer } from '../../../src/balancer/index.js';
import type { BalancerConfig } from '../../../src/config/types.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { makeCertificate } from '../../helpers/tls.js';
import { until } from '../../helpers/until.js';
import { config, ready, refusedAddress, send, startBackend } from '../helpers.js';
import { cacheConfig, metricValue, removeKeys, startVersionedBackend } from './helpers.js';

async function balancerWith(
  t: import('node:test').TestContext,
  backend: string,
  redisUrl: string,
  keyPrefix: string,
  overrides: Partial<BalancerConfig> = {},
) {
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({
    config: config({ cache: cacheConfig({ storage: 'redis', redisUrl, keyPrefix }), ...overrides }),
    metrics,
  });
  t.after(async () => {
    await balancer.close();
    // The store's purge counter and log never expire: the test's prefix goes with it.
    await removeKeys(keyPrefix);
  });
  balancer.setGroup('web', ready(['web-1', backend]));
  const { port } = await balancer.listen();
  return { balancer, metrics, port };
}

describe('http cache on redis', () => {
  test('a response stored by one balancer is a hit on another; a purge on one clears it for both', async (t) => {
    const backend = await startBackend(t, (_req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Cache-Tag': 'product-7' });
      res.end('shared');
    });
    const prefix = `test:http-shared:${randomUUID()}:`;
    const a = await balancerWith(t, backend.address, 'redis://127.0.0.1:6379', prefix);
    const b = await balancerWith(t, backend.address, 'redis://127.0.0.1:6379', prefix);
    assert.equal((await send(a.port, { path: '/item/7' })).headers['x-cache'], 'MISS');
    // The client has its answer before the store is written (a round trip to Redis, then MULTI):
    // ask b once a says it stored, or b can read Redis first and miss.
    await until(async () => (await metricValue(a.metrics, 'scaleplane_http_cache_stores_total')) >= 1);
    const fromB = await send(b.port, { path: '/item/7' });
    assert.equal(fromB.headers['x-cache'], 'HIT');
    assert.equal(fromB.body.toString(), 'shared');
    assert.equal(backend.requests, 1);
    assert.equal(await a.balancer.purgeCache({ urls: [], prefixes: [], tags: ['product-7'] }), 1);
    assert.equal((await send(b.port, { path: '/item/7' })).headers['x-cache'], 'MISS');
    assert.equal(backend.requests, 2);
  });

  test('http:// and https:// of one URL are two entries: a plain and a TLS balancer on one Redis', async (t) => {
    // The backend answers what the scheme makes it answer (a redirect, absolute links): before
    // the fix the scheme was no part of the key, and the https:// request got the http:// copy,
    // whose links leave TLS (and, behind an https-only redirect, loop).
    const backend = await startBackend(t, (req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.end(`${req.headers['x-forwarded-proto']}://${req.headers['x-forwarded-host']}/next`);
    });
    const cert = await makeCertificate();
    t.after(() => cert.remove());
    const prefix = `test:http-scheme:${randomUUID()}:`;
    const plain = await balancerWith(t, backend.address, 'redis://127.0.0.1:6379', prefix);
    const secure = await balancerWith(t, backend.address, 'redis://127.0.0.1:6379', prefix, {
      tls: { cert: cert.certPath, key: cert.keyPath },
    });
    const host = 'shop.example';
    const overHttp = () => send(plain.port, { path: '/item/8', headers: { host } });
    const overHttps = () => send(secure.port, { path: '/item/8', headers: { host }, ca: cert.cert });
    assert.equal((await overHttp()).headers['x-cache'], 'MISS');
    await until(async () => (await metricValue(plain.metrics, 'scaleplane_http_cache_stores_total')) >= 1);
    const first = await overHttps();
    assert.deepEqual(
      [first.headers['x-cache'], first.body.toString()],
      ['MISS', 'https://shop.example/next'],
    );
    await until(async () => (await metricValue(secure.metrics, 'scaleplane_http_cache_stores_total')) >= 1);
    const [http1, https1] = [await overHttp(), await overHttps()];
    assert.deepEqual(
      [http1.headers['x-cache'], http1.body.toString(), https1.headers['x-cache'], https1.body.toString()],
      ['HIT', 'http://shop.example/next', 'HIT', 'https://shop.example/next'],
    );
    assert.equal(backend.requests, 2, 'one fill per scheme');
    // A URL purge names no scheme that matters: both copies go (and a POST over either would too).
    const purged = await plain.balancer.purgeCache({
      urls: [{ host, path: '/item/8' }],
      prefixes: [],
      tags: [],
    });
    assert.equal(purged, 2);
    assert.deepEqual(
      [(await overHttp()).headers['x-cache'], (await overHttps()).headers['x-cache']],
      ['MISS', 'MISS'],
    );
  });

  test('a GET sent once the answer to a POST is in never gets the copy from before the POST', async (t) => {
    const { backend, current } = await startVersionedBackend(t, 60);
    const c = await balancerWith(
      t,
      backend.address,
      'redis://127.0.0.1:6379',
      `test:http-post-get:${randomUUID()}:`,
    );
    // The first GET's client has its answer before the put reaches Redis (two round trips), so
    // its POST can come first: the put then brought v1 back after the invalidation's purge, or a
    // GET read Redis before the purge's commands. It is a race, so many rounds, each on its own
    // URL: before, 3 of 50 and 11 of 200 rounds served the old copy.
    const stale: string[] = [];
    for (let round = 0; round < 100; round++) {
      const path = `/doc/${round}`;
      await send(c.port, { path });
      assert.equal((await send(c.port, { method: 'POST', path, body: 'x' })).status, 200);
      const after = (await send(c.port, { path })).body.toString();
      if (after !== current()) stale.push(`${path}: ${after} (now ${current()})`);
    }
    assert.deepEqual(stale, []);
  });

  test('a GET sent to another balancer once the answer to a POST is in never gets the copy from before it', async (t) => {
    const { backend, current } = await startVersionedBackend(t, 60);
    const prefix = `sp-c24-http-post-elsewhere:${randomUUID()}:`;
    const a = await balancerWith(t, backend.address, 'redis://127.0.0.1:6379', prefix);
    const b = await balancerWith(t, backend.address, 'redis://127.0.0.1:6379', prefix);
    const redis = new Redis('redis://127.0.0.1:6379');
    t.after(async () => {
      const keys = await scanAll(redis, `${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });
    // Each round on its own URL: b stores it, a takes the POST, b is asked again at once. b's
    // lookups cannot wait for a's purge (another process), so a's answer must.
    const stale: string[] = [];
    for (let round = 0; round < 60; round++) {
      const path = `/doc/${round}`;
      await send(b.port, { path });
      await until(async () => (await metricValue(b.metrics, 'scaleplane_http_cache_stores_total')) > round);
      assert.equal((await send(a.port, { method: 'POST', path, body: 'x' })).status, 200);
      const after = (await send(b.port, { path })).body.toString();
      if (after !== current()) stale.push(`${path}: ${after} (now ${current()})`);
    }
    // Before, a's answer went out with its purge of Redis still on its way: 5 of 60 got the old copy.
    assert.deepEqual(stale, []);
  });

  test('with Redis unreachable every request is answered by the backend, no error reaches the client', async (t) => {
    const backend = await startBackend(t, (_req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.end('direct');
    });
    const nowhere = await refusedAddress();
    const c = await balancerWith(t, backend.address, `redis://${nowhere}`, 'test:none:');
    for (let i = 0; i < 3; i++) {
      const reply = await send(c.port, { path: '/x' });
      assert.equal(reply.status, 200);
      assert.equal(reply.body.toString(), 'direct');
      assert.equal(reply.headers['x-cache'], 'MISS');
    }
    assert.equal(backend.requests, 3);
    // Counted per op (get, put); after 3 failures the store is left alone for a while.
    const metric = c.metrics.registry.getSingleMetric('scaleplane_http_cache_errors_total')!;
    const errors = (await metric.get()).values.reduce((sum, v) => sum + v.value, 0);
    assert.ok(errors >= 3, `${errors} store errors counted`);
  });

  test('with Redis hanging (commands time out) only the first requests wait for it; it is used again once it answers', async (t) => {
    const backend = await startBackend(t, (_req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.end('direct');
    });
    // A proxy to the real Redis that, while stalled, holds commands back: Redis up but not
    // answering (as when it is busy or blocked), then answering everything late, in order.
    let stalled = false;
    const held: [net.Socket, Buffer][] = [];
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const redis = net.connect(6379, '127.0.0.1');
      sockets.add(client).add(redis);
      client.on('data', (data) => {
        if (stalled) held.push([redis, data]);
        else redis.write(data);
      });
      redis.on('data', (data) => client.write(data));
      client.on('error', () => redis.destroy());
      redis.on('error', () => client.destroy());
      client.on('close', () => redis.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port: redisPort } = proxy.address() as net.AddressInfo;
    const c = await balancerWith(
      t,
      backend.address,
      `redis://127.0.0.1:${redisPort}`,
      `test:hang:${randomUUID()}:`,
    );
    // Registered after the balancer's, so its Redis client quits through a live proxy.
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      proxy.close();
    });
    stalled = true;
    const took: number[] = [];
    for (let i = 0; i < 8; i++) {
      const started = Date.now();
      const reply = await send(c.port, { path: `/h/${i}` });
      took.push(Date.now() - started);
      assert.equal(reply.status, 200);
      assert.equal(reply.body.toString(), 'direct');
    }
    const late = took.slice(4);
    assert.ok(
      late.every((ms) => ms < 500),
      `once Redis hangs, requests still wait for it: ${took.join(', ')} ms`,
    );
    stalled = false;
    for (const [redis, data] of held.splice(0)) redis.write(data);
    // Once Redis answers again the cache stores and hits again.
    await until(
      async () => {
        await send(c.port, { path: '/back' });
        return (await send(c.port, { path: '/back' })).headers['x-cache'] === 'HIT';
      },
      15_000,
      'a hit after Redis answers again',
    );
  });
  test('one entry with corrupt metadata is a miss for its URL only; the store keeps answering other URLs', async (t) => {
    // Before, JSON.parse threw out of the store's get and each lookup of the key counted as a
    // Redis failure: five concurrent requests for it opened the breaker, and a stored URL was
    // a MISS (the store skipped) for every client for the next second.
    let releaseBad: () => void = () => {};
    const badHeld = new Promise<void>((resolve) => {
      releaseBad = resolve;
    });
    let filled = false;
    const backend = await startBackend(t, (req, res) => {
      const answer = () => {
        res.writeHead(200, { 'Cache-Control': 'max-age=60' });
        res.end(`body of ${req.url}`);
      };
      if (req.url === '/bad' && filled) void badHeld.then(answer);
      else answer();
    });
    const prefix = `test:http-corrupt:${randomUUID()}:`;
    const a = await balancerWith(t, backend.address, 'redis://127.0.0.1:6379', prefix);
    const redis = new Redis('redis://127.0.0.1:6379');
    t.after(async () => {
      const keys = await scanAll(redis, `${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });
    for (const path of ['/good', '/bad'])
      assert.equal((await send(a.port, { path })).headers['x-cache'], 'MISS');
    await until(async () => (await metricValue(a.metrics, 'scaleplane_http_cache_stores_total')) >= 2);
    filled = true;
    // Every SCAN step: one step of COUNT 1000 covers part of a shared Redis that holds more keys
    // (it found nothing once in a full run).
    const [badKey] = await scanAll(redis, `${prefix}e:/bad *`);
    assert.ok(badKey !== undefined, `no Redis entry for /bad under ${prefix}`);
    const metaField = (await redis.hkeys(badKey)).find((field) => field.startsWith('m:'));
    assert.ok(metaField !== undefined, `entry ${badKey} has no metadata field`);
    await redis.hset(badKey, metaField, '{"status":200,"headers":[');

    const bad = Array.from({ length: 5 }, () => send(a.port, { path: '/bad' }));
    // All five are past their lookup once they wait on the one fill.
    await until(async () => (await metricValue(a.metrics, 'scaleplane_http_cache_coalesced_total')) >= 4);
    const good = await send(a.port, { path: '/good' });
    assert.equal(
      good.headers['x-cache'],
      'HIT',
      'a stored URL must stay a HIT while another key holds corrupt metadata (the store breaker opened)',
    );
    releaseBad();
    for (const response of await Promise.all(bad)) {
      assert.equal(response.status, 200, 'a request for the corrupt entry must be answered, not failed');
      assert.equal(
        response.body.toString(),
        'body of /bad',
        'the corrupt entry is a miss filled by the backend',
      );
    }
  });
});

/** scanAll lists every key matching `pattern`, walking SCAN's cursor to its end. */
async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}
