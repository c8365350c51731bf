// The HTTP cache on node:cluster data-path workers: each worker caches for itself (memory), a
// purge in this process reaches every worker and counts what they removed, and an unsafe request
// one worker handled drops the URL from the others' caches too.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Balancer } from '../../../src/balancer/index.js';
import { createMetrics, type ScaleplaneMetrics } from '../../../src/metrics/index.js';
import { until } from '../../helpers/until.js';
import { config, ready, send, startBackend } from '../helpers.js';
import { cacheConfig, startVersionedBackend } from './helpers.js';

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

/** invalidatedKeys sums scaleplane_http_cache_invalidated_total over the workers. */
async function invalidatedKeys(metrics: ScaleplaneMetrics): Promise<number> {
  const all = await metrics.registry.getMetricsAsJSON();
  const metric = all.find((m) => m.name === 'scaleplane_http_cache_invalidated_total');
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

test('workers: 2 — a POST one worker handled drops the URL from the other worker too', async (t) => {
  const { backend } = await startVersionedBackend(t, 600);
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({ config: config({ workers: 2, cache: cacheConfig() }), metrics });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const { port } = await balancer.listen();
  // Fresh connections until both workers hold v1 (the kernel spreads them).
  await until(
    async () => {
      await send(port, { path: '/doc' });
      return backend.requests === 2;
    },
    10_000,
    'both workers storing /doc',
  );
  assert.equal((await send(port, { method: 'POST', path: '/doc', body: 'x' })).status, 200);
  // Before, only the worker that saw the POST dropped its copy: the other answered v1 as a HIT
  // for its whole max-age (4 of 10 GETs after the POST).
  await until(async () => (await invalidatedKeys(metrics)) === 2, 5000, 'both workers dropping /doc');
  for (let i = 0; i < 10; i++) assert.equal((await send(port, { path: '/doc' })).body.toString(), 'v2');
});

test('workers: 2 — a GET sent as soon as a POST is answered gets the new version, whichever worker takes it', async (t) => {
  const { backend, current } = await startVersionedBackend(t, 600);
  const balancer = new Balancer({
    config: config({ workers: 2, cache: cacheConfig() }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const { port } = await balancer.listen();
  const old: string[] = [];
  for (let round = 0; round < 40; round++) {
    // Fresh connections, spread by the kernel: both workers hold the current version, most rounds.
    for (let i = 0; i < 6; i++) await send(port, { path: '/doc' });
    assert.equal((await send(port, { method: 'POST', path: '/doc', body: 'x' })).status, 200);
    const want = current();
    const answers = await Promise.all([0, 1, 2, 3].map(() => send(port, { path: '/doc' })));
    for (const answer of answers)
      if (answer.body.toString() !== want) old.push(`${answer.body} (want ${want})`);
  }
  // Before, the other worker was told once the POST's answer was over: 15 of 160 GETs got the old
  // version as a HIT. Now the answer waits until every worker has dropped the URL.
  assert.deepEqual(old, [], `${old.length} of 160 GETs after a POST got the old version`);
});
