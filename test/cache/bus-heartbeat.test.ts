/**
 * An invalidation channel whose connection dies without a close (a half-open TCP link: a partition,
 * a host gone without a RST, a NAT entry dropped) must not leave the memory tier serving values other
 * instances have changed. B reaches the shared Redis through a proxy that stalls B's connections
 * without closing them; A, connected directly, changes the value.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache } from '../../src/cache/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefix = uniquePrefix('bus-heartbeat');

after(async () => {
  await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

test('a subscriber connection that goes silent is noticed: bus:down, then bus:up with the memory tier emptied', async () => {
  const proxy = await pausableProxy(Number(new URL(SHARED_REDIS_URL).port || 6379));
  const options = { prefix, jitter: 0, ttl: 60_000 };
  const a = createCache({ ...options, redis: { url: SHARED_REDIS_URL } });
  const b = createCache({
    ...options,
    redis: { url: `redis://127.0.0.1:${proxy.port}`, busHeartbeat: '200ms' },
  });
  b.on('error', () => {});
  const events: string[] = [];
  b.on('bus:down', () => events.push('bus:down'));
  b.on('bus:up', () => events.push('bus:up'));
  try {
    assert.equal(await a.ready(), true, 'A ready');
    assert.equal(await b.ready(), true, 'B ready');
    assert.equal(await b.getOrSet('k', () => 'v1'), 'v1');
    assert.ok(b.memoryHas('k'), 'B keeps v1 in memory');
    // Every connection B has now stalls, both ways, and nothing closes; new ones go through.
    proxy.hold();
    const changedAt = Date.now();
    await a.set('k', 'v2');
    let seen: unknown;
    await until(async () => {
      seen = await b.get('k');
      return seen === 'v2';
    }, 10_000).catch((error: Error) =>
      assert.fail(
        `${error.message}: B.get still gave ${String(seen)} (busUp ${b.busUp}, events ${events.join(',')})`,
      ),
    );
    console.log(`B read v2 ${Date.now() - changedAt} ms after A's set (heartbeat 200 ms)`);
    assert.deepEqual(events.slice(-2), ['bus:down', 'bus:up'], `B's bus events: ${events.join(',')}`);
  } finally {
    proxy.dropHeld();
    await b.close();
    await a.close();
    await proxy.close();
  }
});
