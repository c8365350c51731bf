// Redis storage end to end: two balancers share one cache in the real Redis at 6379 (under a key
// prefix unique to this run), and a cache whose Redis is unreachable still answers from the backend.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { Balancer } from '../../../src/balancer/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { until } from '../../helpers/until.js';
import { config, ready, refusedAddress, send, startBackend } from '../helpers.js';
import { cacheConfig, metricValue } from './helpers.js';

async function balancerWith(
  t: import('node:test').TestContext,
  backend: string,
  redisUrl: string,
  keyPrefix: string,
) {
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({
    config: config({ cache: cacheConfig({ storage: 'redis', redisUrl, keyPrefix }) }),
    metrics,
  });
  t.after(() => balancer.close());
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
    assert.ok((await metricValue(c.metrics, 'scaleplane_http_cache_errors_total')) >= 3);
  });
});
