// A new local instance is ready once its health path answers 2xx/3xx. Each of those start probes
// gave up after 1 s, whatever `balancer.health.timeout` said: an app whose /healthz takes 1.5 s
// (it checks its database) was healthy for the balancer with `timeout: 3s`, yet never became
// ready here: every start failed at start_timeout, counted as a crash, until a crash loop paused
// the group with none serving. The start probe now waits as long as the balancer's health check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startInProcess } from '../helpers/scaleplane.js';
import { makeProvider, until } from './local-helpers.js';

/** SLOW_HEALTH answers every request, /healthz too, after 1.5 s. */
const SLOW_HEALTH = `"${process.execPath}" -e "require('http').createServer((q, s) => setTimeout(() => s.end('ok'), 1500)).listen(process.env.PORT, '127.0.0.1')"`;

test('an app whose health path answers in 1.5 s is ready with a health timeout of 3 s', async (t) => {
  const provider = makeProvider(t, { command: SLOW_HEALTH, startTimeout: 8000 }, { healthTimeout: 3000 });
  const failures: string[] = [];
  provider.on('crash', (_instance, detail) => failures.push(detail.reason ?? ''));
  void provider.scaleTo(1);
  await until(
    provider,
    () => provider.instances().some((i) => i.state === 'ready') || failures.length > 0,
    15_000,
  );
  assert.deepEqual(failures, [], 'no failed start');
  assert.equal(provider.instances()[0]?.state, 'ready', 'the instance is ready');
});

test('scaleplane up: balancer.health.timeout reaches the start probe of a local group', async (t) => {
  const app = await startInProcess(`
api:
  listen: 127.0.0.1:20611
balancer:
  listen: 127.0.0.1:20612
  health: { path: /healthz, interval: 1s, timeout: 3s }
groups:
  web:
    provider: local
    command: ${JSON.stringify(SLOW_HEALTH)}
    start_timeout: 8s
    min_instances: 1
    max_instances: 1
`);
  t.after(() => app.close());
  const instances = app.providers.get('web')!.instances();
  assert.deepEqual(
    instances.map((i) => i.state),
    ['ready'],
    'the one instance is ready once up has started',
  );
});
