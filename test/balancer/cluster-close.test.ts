// Cluster mode: closing the balancer while a replacement worker is still booting. The replacement
// must not open the port after close began (it would take connections only to be killed with them).
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { within } from '../helpers/until.js';
import { config, ready, startBackend } from './helpers.js';

test('workers: a replacement still booting when the balancer closes exits without listening', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const balancer = new Balancer({
    // The kill deadline (drainTimeout + 1 s) well past a worker's boot: under load (a CI run beside
    // other work, load 45 on 2 cores) a booting tsx worker took over 11 s and was killed at 10 s + 1 s.
    config: config({ workers: 2, drainTimeout: 45_000 }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  await balancer.listen();
  const victim = Object.values(cluster.workers ?? {}).find((w) => w !== undefined);
  assert.ok(victim !== undefined, 'a worker to kill');
  const forked = once(cluster, 'fork');
  victim.process.kill('SIGKILL');
  const [replacement] = (await forked) as [import('node:cluster').Worker];
  let listened = false;
  replacement.on('listening', () => {
    listened = true;
  });
  const exited = once(replacement, 'exit');
  const closed = balancer.close();
  const [code, signal] = (await within('the booting replacement exits', 60_000, exited)) as [number, string];
  await closed;
  assert.equal(listened, false, 'the replacement opened the port after close began');
  assert.deepEqual([code, signal], [0, null], 'the replacement exited by itself, not killed at the deadline');
});
