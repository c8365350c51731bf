// All cores: the data path on node:cluster workers sharing one port, fed membership and health by
// this (controller) process.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { until } from '../helpers/until.js';
import { config, ready, startBackend } from './helpers.js';

function get(agent: http.Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

test('workers: 2 serve on one port; health and membership pushed from here reach them', async (t) => {
  let bHealth = 200;
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => res.end('b'), { health: () => bHealth });
  const balancer = new Balancer({
    config: config({ workers: 2 }, { interval: 200, unhealthyThreshold: 1 }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });

  const first = await Promise.all(Array.from({ length: 10 }, () => get(agent, port)));
  assert.deepEqual(new Set(first), new Set(['200 a']));

  // Pushes travel over IPC to each worker: wait for them to land (a slow machine takes longer),
  // never for a fixed time.
  let sent = first.length;
  const answers = async () => {
    sent += 20;
    return new Set(await Promise.all(Array.from({ length: 20 }, () => get(agent, port))));
  };
  balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
  await until(async () => (await answers()).has('200 b'), 20_000, 'b served by a worker');
  const both = await answers();
  assert.deepEqual([...both].sort(), ['200 a', '200 b']);

  bHealth = 503;
  await once(balancer, 'health');
  await until(async () => !(await answers()).has('200 b'), 20_000, 'the verdict on b pushed');
  const healthy = await answers();
  assert.deepEqual([...healthy], ['200 a'], 'unhealthy b gets nothing once the verdict is pushed');

  // Traffic stats come back from the workers.
  await until(() => balancer.stats('web').requests >= sent, 20_000, `workers report all ${sent} requests`);
  await balancer.drain('web', 'a');
});

test('workers: requests they serve are counted on this process registry (/metrics)', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const metrics = createMetrics({ defaultMetrics: true });
  const balancer = new Balancer({ config: config({ workers: 2 }), metrics });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });
  const n = 37;
  for (let i = 0; i < n; i++) assert.equal(await get(agent, port), '200 a');

  const text = await metrics.registry.metrics();
  assert.match(text, new RegExp(`scaleplane_requests_total\\{group="web",code="2xx"\\} ${n}\\n`));
  assert.match(text, new RegExp(`scaleplane_request_duration_seconds_count\\{group="web"\\} ${n}\\n`));
  assert.match(text, /scaleplane_inflight_requests\{group="web"\} 0\n/);
  // This process's own series stay, once each.
  assert.equal(text.match(/^# TYPE scaleplane_process_process_cpu_seconds_total /gm)?.length, 1);
  assert.equal(text.match(/^# TYPE scaleplane_requests_total /gm)?.length, 1);
  // Readers of one metric (latency source, dashboard) see the workers' counts too.
  const counted = await metrics.registry.getSingleMetric('scaleplane_requests_total')!.get();
  const twoxx = counted.values.find((v) => v.labels.group === 'web' && v.labels.code === '2xx');
  assert.equal(twoxx?.value, n);
  // …and a metric read that way can still be written by this process.
  metrics.requests.inc({ group: 'web', code: '5xx' });
  assert.match(await metrics.registry.metrics(), /scaleplane_requests_total\{group="web",code="5xx"\} 1\n/);
});
