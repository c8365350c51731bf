// The HTTP cache on node:cluster data-path workers: each worker caches for itself (memory), and a
// purge in this process reaches every worker and counts what they removed.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Balancer } from '../../../src/balancer/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { config, ready, startBackend } from '../helpers.js';
import { cacheConfig } from './helpers.js';

function get(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/w', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['x-cache'] as string | undefined));
      })
      .on('error', reject);
  });
}

test('workers: 2 — each worker caches, a purge reaches them all', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'Cache-Control': 'max-age=600' });
    res.end('w');
  });
  const balancer = new Balancer({
    config: config({ workers: 2, cache: cacheConfig() }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const { port } = await balancer.listen();
  for (let i = 0; i < 20; i++) await get(port);
  const filled = backend.requests;
  assert.ok(filled >= 1 && filled <= 2, `one fill per worker that got traffic, saw ${filled}`);
  assert.equal(
    await balancer.purgeCache({ urls: [{ host: undefined, path: '/w' }], prefixes: [], tags: [] }),
    filled,
  );
  assert.equal(await get(port), 'MISS');
});
