// consistent-hash: the Maglev table follows weights that change without a membership change.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config, startBackend } from './helpers.js';

async function named(t: TestContext, name: string) {
  return startBackend(t, (_req, res) => res.end(name));
}

function get(agent: http.Agent, port: number, key: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent, headers: { 'x-user': key } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

test('consistent-hash: a weight-3 instance added in slow start holds 3/4 of the keys once its ramp is over', async (t) => {
  const old = await named(t, 'old');
  const heavy = await named(t, 'heavy');
  let now = 1_000;
  const balancer = new Balancer({
    config: config({ algorithm: 'consistent-hash', hashKey: 'header:x-user', slowStart: 10_000 }),
    metrics: createMetrics({ defaultMetrics: false }),
    now: () => now,
  });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  balancer.setGroup('web', [{ id: 'old', address: old.address, state: 'ready' }]);
  const both = [
    { id: 'old', address: old.address, state: 'ready' as const },
    { id: 'heavy', address: heavy.address, state: 'ready' as const, weight: 3 },
  ];
  balancer.setGroup('web', both);
  // One request while heavy is at the start of its ramp, then the ramp is over.
  await get(agent, port, 'first');
  now += 60_000;
  const counts: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const name = await get(agent, port, `user-${i}`);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  t.diagnostic(JSON.stringify(counts));
  const share = (counts.heavy ?? 0) / 300;
  assert.ok(
    share > 0.65 && share < 0.85,
    `weights 3 and 1 after the ramp, the weight-3 instance holds ${counts.heavy ?? 0} of 300 keys (${JSON.stringify(counts)}), expected about 225`,
  );
});
