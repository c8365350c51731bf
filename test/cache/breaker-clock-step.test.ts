// The Redis tier's breaker stops sending commands to a Redis that failed them, and lets one through
// again openMs later. It was timed on the cache's clock, the wall clock (entries carry absolute
// times other instances share): a step back of the system clock (NTP, a VM resumed, `date -s`) while
// it was open kept it open for as long as the step, and every read and load went past Redis (to the
// database) meanwhile. The cache's clock is stepped here; the breaker now runs on the monotonic one.
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { type Cache, createCache } from '../../src/cache/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { until, within } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const REDIS_PORT = Number(new URL(SHARED_REDIS_URL).port || 6379);
const prefix = uniquePrefix('breaker-step');

after(async () => {
  await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

/** closing closes `cache` when the test ends, failed or not; absorbed failures are expected here. */
function closing(t: TestContext, cache: Cache): Cache {
  cache.on('error', () => {});
  t.after(() => cache.close());
  return cache;
}

test('a step back of the clock while the breaker is open does not keep Redis out', async (t) => {
  const proxy = await pausableProxy(REDIS_PORT);
  t.after(() => proxy.close());
  const clock = { offset: 0, now: () => Date.now() + clock.offset };
  // A client of the test's: the cache times its reads out itself and does not reconnect it (a
  // reconnect would end the breaker's open state at once).
  const client = new Redis(`redis://127.0.0.1:${proxy.port}`);
  client.on('error', () => {});
  t.after(() => client.disconnect());
  const cache = closing(
    t,
    createCache({
      prefix,
      ttl: '1m',
      memory: false,
      clock,
      redis: {
        client,
        commandTimeout: 200,
        breaker: { failureThreshold: 1, openMs: 300 },
      },
    }),
  );
  assert.equal(await cache.ready(), true, 'cache ready');
  await cache.set('k', 'v');
  // A stalled link: the read times out (200 ms), the breaker opens; the connection stays.
  const down = new Promise<void>((resolve) => cache.once('redis:down', () => resolve()));
  proxy.hold();
  assert.equal(await cache.get('k'), undefined, 'the read answers without Redis');
  await within("the cache's redis:down", 10_000, down);
  clock.offset = -10 * 60_000;
  proxy.resume();
  // Each read past openMs may probe Redis; the first that gets through closes the breaker.
  await until(
    async () => (await cache.get('k')) === 'v' && cache.redisUp,
    10_000,
    'a read to reach Redis again openMs after the link came back',
  );
  assert.equal(cache.redisUp, true, 'the Redis tier is up again');
  assert.equal(client.status, 'ready', 'on the same connection: no reconnect closed the breaker');
});
