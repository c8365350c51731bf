// Cluster mode: a data-path worker that dies while an instance is in slow start is replaced with that
// instance still ramping, not at full weight (the replacement's pool starts empty, and the first
// members of an empty pool take full weight).
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
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
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

test('workers: an instance in slow start keeps ramping on a replaced worker, not at full weight', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const c = await startBackend(t, (_req, res) => res.end('c'));
  // A 10-minute ramp: c stays near its 10 % starting share for the whole test, however slow the machine.
  const balancer = new Balancer({
    config: config({ workers: 2, slowStart: 600_000 }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  const { port } = await balancer.listen();
  // A scale-out: c joins a group that already serves, so it starts slow.
  balancer.setGroup('web', ready(['a', a.address], ['c', c.address]));
  const agent = new http.Agent({ keepAlive: false });
  await until(async () => (await get(agent, port)) === 'c', 20_000, 'c joined on some worker');

  const originals = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  assert.equal(originals.length, 2, 'two workers before the kills');
  for (const worker of originals) {
    // The next kill only once the replacement listens: the port closes when no worker holds it.
    const listening = once(cluster, 'listening');
    worker.process.kill('SIGKILL');
    await listening;
  }

  const n = 60;
  const answers: string[] = [];
  for (let i = 0; i < n; i++) answers.push(await get(agent, port));
  const toC = answers.filter((body) => body === 'c').length;
  // At weight 0.1 against 1, c's share is about 1 in 11 on each worker; at full weight, 1 in 2.
  assert.ok(
    toC <= n / 4,
    `the replacement workers sent ${toC} of ${n} requests to c, in slow start since the scale-out`,
  );
});
