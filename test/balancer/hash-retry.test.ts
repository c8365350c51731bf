// consistent-hash: a retry walks on to a backend that can serve, whatever left the group meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Balancer, buildMaglevTable, hash32 } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config, ready, refusedAddress, send, startBackend } from './helpers.js';

const TABLE = 65_537;

/** slotOwner is the id consistent-hash picks first for `key` among `ids` (all weight 1). */
function slotOwner(ids: string[], key: string): string {
  const table = buildMaglevTable(
    ids,
    ids.map(() => 1),
    TABLE,
  );
  return ids[table[hash32(key) % TABLE]!]!;
}

test('consistent-hash: two dead instances of three, the first ejected by this request: its last retry reaches the live one', async (t) => {
  const live = await startBackend(t, (_req, res) => res.end('live'));
  const deadA = await refusedAddress();
  const deadB = await refusedAddress();
  // A key on dead-a among all three, and on dead-b once dead-a is out: the request is refused by
  // dead-a (ejected by that failure), then by dead-b, and its second retry must go to live.
  const key = Array.from({ length: 10_000 }, (_, i) => `user-${i}`).find(
    (k) =>
      slotOwner(['dead-a', 'dead-b', 'live'], k) === 'dead-a' &&
      slotOwner(['dead-b', 'live'], k) === 'dead-b',
  );
  assert.ok(key !== undefined, 'a key with that path exists');
  const balancer = new Balancer({
    config: config({
      algorithm: 'consistent-hash',
      hashKey: 'header:x-user',
      outlier: {
        consecutive5xx: 0,
        consecutiveGatewayErrors: 1,
        baseEjectionTime: 600_000,
        maxEjectionTime: 600_000,
        maxEjectionPercent: 50,
        panicThreshold: 0,
      },
    }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  balancer.setGroup('web', ready(['dead-a', deadA], ['dead-b', deadB], ['live', live.address]));
  const reply = await send(port, { path: '/', headers: { 'x-user': key } });
  const ejected = balancer
    .stats('web')
    .backends.filter((b) => b.ejected)
    .map((b) => b.id);
  assert.deepEqual(ejected, ['dead-a'], 'the first refusal ejected dead-a, and only it (50% of three)');
  assert.equal(
    reply.status,
    200,
    `key ${key}: refused by dead-a and dead-b, the second retry got ${reply.status} ${reply.body} instead of reaching live`,
  );
  assert.equal(live.requests, 1);
});
