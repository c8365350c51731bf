// The store breaker of the HTTP cache, on the real Redis at 6379 (under a key prefix unique to the
// run): a cache whose store failed and recovered goes back to using it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import {
  type CacheUpstream,
  HttpCache,
  type HttpCacheStore,
  httpCacheMetrics,
  RedisHttpStore,
} from '../../../src/balancer/cache/index.js';
import type { OriginRequest, OriginResponse } from '../../../src/balancer/origin.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { until } from '../../helpers/until.js';
import { send, startBackend } from '../helpers.js';
import { cacheConfig } from './helpers.js';

test('a fill whose purge-mark read is the half-open probe closes the breaker: the store is used again', async (t) => {
  // Before, #mark took the half-open probe and never reported its success: the breaker stayed
  // half-open with a probe "in flight" for good, every lookup and put was refused, and the cache
  // was a MISS for every request until the process restarted.
  const backend = await startBackend(t, (req, res) => {
    const cacheable = req.url === '/item';
    res.writeHead(200, { 'Cache-Control': cacheable ? 'max-age=60' : 'no-store' });
    res.end(`body of ${req.url}`);
  });
  const prefix = `test:http-breaker:${randomUUID()}:`;
  const redis = new RedisHttpStore({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix });
  await redis.ready();
  let failGets = 3;
  let puts = 0;
  const store: HttpCacheStore = {
    kind: 'redis',
    get: (key, now, variantOf) => {
      if (failGets > 0) {
        failGets--;
        return Promise.reject(new Error('store get failed (injected)'));
      }
      return redis.get(key, now, variantOf);
    },
    put: async (key, response, now, since) => {
      await redis.put(key, response, now, since);
      puts++;
    },
    mark: () => redis.mark(),
    remove: (key, variant) => redis.remove(key, variant),
    purge: (selector) => redis.purge(selector),
    usage: () => undefined,
    close: () => redis.close(),
  };
  // The breaker reads performance.now(); it is moved past the open window between one request's
  // lookup (refused: open) and its fill's purge-mark read (the first store call let through), the
  // order in which a loaded balancer can cross the window's end.
  const realNow = performance.now.bind(performance);
  let shift = 0;
  let crossOnNextClockRead = false;
  performance.now = () => realNow() + shift;
  t.after(() => {
    performance.now = realNow;
  });
  const cache = new HttpCache({
    name: 'default',
    config: cacheConfig({ storage: 'redis', keyPrefix: prefix }),
    store,
    metrics: httpCacheMetrics(createMetrics({ defaultMetrics: false }).registry),
    now: () => {
      // The cache's wall clock is first read after the lookup, before the fill's mark.
      if (crossOnNextClockRead) {
        crossOnNextClockRead = false;
        shift += 60_000;
      }
      return Date.now();
    },
  });
  const cleanup = new Redis('redis://127.0.0.1:6379');
  t.after(async () => {
    await cache.close();
    const keys = await cleanup.keys(`${prefix}*`);
    if (keys.length > 0) await cleanup.del(...keys);
    await cleanup.quit();
  });
  const upstream: CacheUpstream = {
    closing: false,
    pass: () => assert.fail('nothing here bypasses the cache'),
    fetch: (request: OriginRequest) => fetchFrom(backend.address, request),
  };
  const server = http.createServer((req, res) => cache.handle(req, res, upstream));
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;

  // Three failed lookups open the breaker (its threshold); their answers are not stored (no-store).
  for (const path of ['/a', '/b', '/c']) assert.equal((await send(port, { path })).status, 200);
  assert.equal(failGets, 0, 'each of the three requests looked the store up');
  crossOnNextClockRead = true;
  const first = await send(port, { path: '/item' });
  assert.equal(first.headers['x-cache'], 'MISS');
  await until(() => puts === 1, 5000, 'the put of /item after the breaker probe succeeded');
  const second = await send(port, { path: '/item' });
  assert.equal(second.headers['x-cache'], 'HIT', 'the store is used again once the probe succeeded');
  assert.equal(second.body.toString(), 'body of /item');
});

/** fetchFrom makes one bodiless request to `address` and hands back its response, body unread. */
function fetchFrom(address: string, request: OriginRequest): Promise<OriginResponse> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        method: request.method,
        path: request.path,
        headers: request.headers as string[],
        agent: false,
      },
      (res) =>
        resolve({
          status: res.statusCode!,
          statusMessage: res.statusMessage ?? '',
          rawHeaders: res.rawHeaders,
          headers: res.headers,
          body: res,
        }),
    );
    req.on('error', reject);
    req.end();
  });
}
