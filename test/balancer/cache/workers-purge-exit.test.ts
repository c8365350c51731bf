// The HTTP cache on node:cluster workers: a purge resolves only once every worker it was sent to has
// purged or died. A worker that answered and then died must not end the wait on one still purging.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { test } from 'node:test';
import { Balancer } from '../../../src/balancer/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { until, within } from '../../helpers/until.js';
import { config, ready, send, startBackend } from '../helpers.js';
import { cacheConfig } from './helpers.js';

test('workers: 2 — a purge answered by a worker that then dies still waits for the other worker', async (t) => {
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
  // Fresh connections until both workers hold /w (the kernel spreads them).
  await until(
    async () => {
      await send(port, { path: '/w' });
      return backend.requests === 2;
    },
    10_000,
    'both workers storing /w',
  );
  const [slow, quick] = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  assert.ok(slow !== undefined && quick !== undefined, 'two workers');
  // One worker cannot purge for now (stopped, as a worker busy or swapping would be).
  slow.process.kill('SIGSTOP');
  t.after(() => slow.process.kill('SIGCONT'));
  const answered = new Promise<void>((resolve) =>
    quick.on('message', (message: { t?: string }) => {
      if (message.t === 'purged') resolve();
    }),
  );
  let removed: number | undefined;
  const purged = balancer
    .purgeCache({ urls: [{ host: undefined, path: '/w' }], prefixes: [], tags: [] })
    .then((n) => {
      removed = n;
    });
  await within('the running worker answered the purge', 20_000, answered);
  const listening = once(cluster, 'listening');
  quick.process.kill('SIGKILL');
  await listening;
  assert.equal(removed, undefined, `the purge returned ${removed} while the other worker still held /w`);
  slow.process.kill('SIGCONT');
  await within('purge once the stopped worker runs again', 20_000, purged);
  assert.equal(removed, 2, 'one copy of /w removed on each worker');
});
