// Passive outlier detection sees the HTTP cache's fills as it sees proxied requests.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Balancer, type Ejection } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { cacheConfig } from './cache/helpers.js';
import { config, ready, startBackend } from './helpers.js';

function get(agent: http.Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

test('a backend that takes cache fills and never answers them is ejected, as for proxied requests', async (t) => {
  // Accepts the request, never answers it (a hung process whose health check still passes).
  const hung = await startBackend(t, () => {});
  const good = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'Cache-Control': 'max-age=60' });
    res.end('ok');
  });
  const balancer = new Balancer({
    config: config({
      algorithm: 'round-robin',
      requestTimeout: 300,
      cache: cacheConfig(),
      outlier: {
        consecutive5xx: 0,
        consecutiveGatewayErrors: 2,
        baseEjectionTime: 600_000,
        maxEjectionTime: 600_000,
        maxEjectionPercent: 50,
        panicThreshold: 0,
      },
    }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  const ejections: Ejection[] = [];
  balancer.on('ejection', (ejection) => ejections.push(ejection));
  const { port } = await balancer.listen();
  balancer.setGroup('web', ready(['hung', hung.address], ['good', good.address]));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  // Each path once: every GET is a miss, filled from a backend through the cache.
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push(await get(agent, port, `/doc/${i}`));
  t.diagnostic(`statuses ${statuses.join(',')}; hung got ${hung.requests}, good ${good.requests}`);
  assert.deepEqual(
    ejections.map((e) => `${e.id}:${e.reason}`),
    ['hung:ConsecutiveGatewayErrors'],
    `the backend that never answered was not ejected after timing out ${hung.requests} cache fills`,
  );
  assert.equal(hung.requests, 2, 'the hung backend gets no fill once ejected');
  assert.equal(statuses.filter((s) => s === 504).length, 2, `statuses ${statuses.join(',')}`);
});
