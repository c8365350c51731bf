/**
 * A lock request whose reply comes after the command timeout. The caller has given up on it and
 * loaded without the lock; the SET NX still lands when the stalled link lets it through. Nobody
 * released that lock before: every instance asking for the key waited `lock.wait` on it and then
 * loaded anyway, for the lock's whole TTL. The link is stalled by a proxy when the lock's key passes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache } from '../../src/cache/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

test('a lock taken by a request that timed out is released once its late reply lands', async (t) => {
  const prefix = uniquePrefix('late-lock');
  const admin = new Redis(SHARED_REDIS_URL);
  t.after(async () => {
    await cleanupPrefix(admin, prefix);
    admin.disconnect();
  });
  const proxy = await pausableProxy(Number(new URL(SHARED_REDIS_URL).port || 6379));
  t.after(() => proxy.close());
  const a = createCache({
    prefix,
    ttl: '1m',
    memory: false,
    // A lock TTL far beyond the test's waits: only a release ends it in time.
    lock: { ttl: '10m', wait: '1m' },
    redis: { url: `redis://127.0.0.1:${proxy.port}`, commandTimeout: '200ms' },
  });
  a.on('error', () => {}); // the timeouts are the point; their reports are not under test
  t.after(() => a.close());
  assert.equal(await a.ready(), true);

  const lockKey = `${prefix}__lock:k`;
  proxy.holdOn(lockKey);
  let loads = 0;
  const value = await a.getOrSet('k', () => {
    loads++;
    return 'v1';
  });
  assert.equal(value, 'v1', 'the caller gets a value though the lock request got no answer');
  assert.equal(loads, 1);
  assert.equal(proxy.holding(), true, 'the lock request is still on its way');
  // The stalled link lets the lock request through, late: Redis takes the lock for A's token.
  proxy.resume();
  await until(async () => (await admin.exists(lockKey)) === 0, 10_000, 'the late lock released');
});
