// Weights on real backends: a weight-2 instance serves about twice what a weight-1 one does.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { type BackendInstance, Balancer } from '../../src/balancer/index.js';
import type { BalancerAlgorithm } from '../../src/config/types.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config, get, mulberry32, startBackend } from './helpers.js';

async function named(t: TestContext, name: string) {
  return startBackend(t, (_req, res) => res.end(name));
}

/** sequential sends `total` GETs one after another and counts answers per backend. */
async function sequential(port: number, total: number): Promise<Record<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const counts: Record<string, number> = {};
  for (let i = 0; i < total; i++) {
    const name = await get(agent, port);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  agent.destroy();
  return counts;
}

for (const algorithm of ['round-robin', 'least-connections', 'p2c'] as BalancerAlgorithm[]) {
  test(`${algorithm}: one request at a time, a weight-2 instance serves about twice a weight-1 one`, async (t) => {
    const heavy = await named(t, 'heavy');
    const light = await named(t, 'light');
    const balancer = new Balancer({
      config: config({ algorithm }),
      metrics: createMetrics({ defaultMetrics: false }),
      random: mulberry32(7),
    });
    t.after(() => balancer.close());
    const { port } = await balancer.listen();
    const instances: BackendInstance[] = [
      { id: 'heavy', address: heavy.address, state: 'ready', weight: 2 },
      { id: 'light', address: light.address, state: 'ready', weight: 1 },
    ];
    balancer.setGroup('web', instances);
    const counts = await sequential(port, 300);
    const share = (counts.heavy ?? 0) / 300;
    t.diagnostic(`${algorithm}: ${JSON.stringify(counts)}`);
    assert.ok(
      share > 0.58 && share < 0.75,
      `${algorithm}: the weight-2 instance served ${counts.heavy ?? 0} of 300 (${JSON.stringify(counts)}), expected about 200`,
    );
  });
}

for (const algorithm of ['round-robin', 'least-connections', 'p2c'] as BalancerAlgorithm[]) {
  test(`${algorithm}: an instance just added in slow start gets its ramped share, not half, one request at a time`, async (t) => {
    const old = await named(t, 'old');
    const fresh = await named(t, 'new');
    // The clock stands still: the new instance stays at the start of its ramp (10% of its weight).
    const balancer = new Balancer({
      config: config({ algorithm, slowStart: 60_000 }),
      metrics: createMetrics({ defaultMetrics: false }),
      random: mulberry32(11),
      now: () => 1_000,
    });
    t.after(() => balancer.close());
    const { port } = await balancer.listen();
    balancer.setGroup('web', [{ id: 'old', address: old.address, state: 'ready' }]);
    balancer.setGroup('web', [
      { id: 'old', address: old.address, state: 'ready' },
      { id: 'new', address: fresh.address, state: 'ready' },
    ]);
    const counts = await sequential(port, 220);
    t.diagnostic(`${algorithm}: ${JSON.stringify(counts)}`);
    // Weights 1 and 0.1: the new one's share is 1/11, 20 of 220.
    const got = counts.new ?? 0;
    assert.ok(
      got >= 8 && got <= 40,
      `${algorithm}: the instance in slow start served ${got} of 220 (${JSON.stringify(counts)}), expected about 20`,
    );
  });
}
