import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import { HealthChecker } from '../../src/balancer/health.js';
import { type HealthState, type HealthTransition, nextHealthState } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { until } from '../helpers/until.js';
import { counter } from './helpers.js';

test('nextHealthState: thresholds of consecutive results', () => {
  const run = (results: string, thresholds = { healthyThreshold: 2, unhealthyThreshold: 3 }): string => {
    let state: HealthState = { healthy: true, successes: 0, failures: 0 };
    let out = '';
    for (const r of results) {
      state = nextHealthState(state, r === '+', thresholds);
      out += state.healthy ? 'H' : 'U';
    }
    return out;
  };
  const cases: [results: string, want: string][] = [
    ['+++', 'HHH'],
    ['--', 'HH'],
    ['---', 'HHU'],
    ['--+--', 'HHHHH'],
    ['---+', 'HHUU'],
    ['---++', 'HHUUH'],
    ['---+-++', 'HHUUUUH'],
  ];
  for (const [results, want] of cases) assert.equal(run(results), want, results);
  assert.equal(run('-+', { healthyThreshold: 1, unhealthyThreshold: 1 }), 'UH');
});

test('HealthChecker: a backend answering 503 takes itself out and comes back', async (t) => {
  let status = 200;
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/ready' ? status : 404;
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const metrics = createMetrics({ defaultMetrics: false });
  const checker = new HealthChecker({
    group: 'web',
    config: { path: '/healthz', interval: 10, timeout: 500, unhealthyThreshold: 2, healthyThreshold: 1 },
    metrics,
    path: '/ready',
  });
  t.after(() => checker.close());
  checker.add({ id: 'a', address: `127.0.0.1:${port}`, host: '127.0.0.1', port });

  status = 503;
  const [down] = (await once(checker, 'transition')) as [HealthTransition];
  assert.deepEqual(down, {
    group: 'web',
    id: 'a',
    address: `127.0.0.1:${port}`,
    healthy: false,
    detail: '503',
  });
  status = 204;
  const [up] = (await once(checker, 'transition')) as [HealthTransition];
  assert.equal(up.healthy, true);
  assert.equal(await counter(metrics.healthTransitions, { group: 'web', to: 'unhealthy' }), 1);
  assert.equal(await counter(metrics.healthTransitions, { group: 'web', to: 'healthy' }), 1);
  checker.close();
  checker.close();
});

test('HealthChecker: refused connections and timeouts fail', async (t) => {
  const silent = http.createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const { port } = silent.address() as AddressInfo;
  const checker = new HealthChecker({
    group: 'web',
    config: { path: '/healthz', interval: 10, timeout: 30, unhealthyThreshold: 1, healthyThreshold: 1 },
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => checker.close());
  checker.add({ id: 'slow', address: `127.0.0.1:${port}`, host: '127.0.0.1', port });
  const [down] = (await once(checker, 'transition')) as [HealthTransition];
  assert.deepEqual([down.id, down.healthy, down.detail], ['slow', false, 'ETIMEDOUT']);
});

test('HealthChecker: a response whose body never ends fails at the timeout and holds no connection', async (t) => {
  let checks = 0;
  const open = new Set<Socket>();
  const stalled = http.createServer((_req, res) => {
    checks++;
    // Status and a first chunk at once, then nothing: the app froze mid-response.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('ok');
  });
  stalled.on('connection', (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  stalled.listen(0, '127.0.0.1');
  await once(stalled, 'listening');
  t.after(() => {
    stalled.closeAllConnections();
    stalled.close();
  });
  const { port } = stalled.address() as AddressInfo;
  const checker = new HealthChecker({
    group: 'web',
    config: { path: '/healthz', interval: 10, timeout: 50, unhealthyThreshold: 1, healthyThreshold: 1 },
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => checker.close());
  const transitions: HealthTransition[] = [];
  checker.on('transition', (transition: HealthTransition) => transitions.push(transition));
  checker.add({ id: 'stalled', address: `127.0.0.1:${port}`, host: '127.0.0.1', port });
  await until(() => checks >= 8, 10_000, '8 checks made');
  // Before: judged healthy at its status line, and every check's connection stayed open (8 after 8
  // checks, one more each interval).
  assert.deepEqual(
    transitions.map((tr) => [tr.id, tr.healthy, tr.detail]),
    [['stalled', false, 'ETIMEDOUT']],
  );
  await until(() => open.size <= 1, 10_000, `at most the check in progress open (${open.size} open)`);
});
