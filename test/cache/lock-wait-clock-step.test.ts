// A call that finds another instance loading its key under the lock waits for that fill at most
// lock.wait, then loads itself (or answers stale). The wait was timed on the cache's clock, the wall
// clock (entries carry absolute times other instances share): a step back of the system clock (NTP,
// a VM resumed, `date -s`) during it held the call for as long as the step, or until the other load
// ended. The waiting instance's clock is stepped here, 100 ms into its wait; the wait now runs on
// the monotonic clock.
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { type Cache, createCache } from '../../src/cache/index.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefix = uniquePrefix('lock-wait-step');

after(async () => {
  await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

function closing(t: TestContext, cache: Cache): Cache {
  cache.on('error', () => {});
  t.after(() => cache.close());
  return cache;
}

test('a step back of the clock during a wait for the lock does not prolong it past lock.wait', async (t) => {
  const options = { prefix, redis: { url: SHARED_REDIS_URL }, lock: { ttl: 30_000, wait: 200, poll: 20 } };
  const a = closing(t, createCache(options));
  const clock = { step: 0, now: () => Date.now() - clock.step };
  const b = closing(t, createCache({ ...options, clock }));
  assert.deepEqual([await a.ready(), await b.ready()], [true, true], 'both caches ready');
  // A loads `k` under the lock until the test lets it finish.
  let finishA!: (value: string) => void;
  const aLoading = new Promise<string>((resolve) => {
    finishA = resolve;
  });
  let aStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    aStarted = resolve;
  });
  const fromA = a.getOrSet('k', () => {
    aStarted();
    return aLoading;
  });
  t.after(() => finishA('from A'));
  await started;
  const fromB = b.getOrSet('k', () => 'from B');
  const stepping = setTimeout(() => {
    clock.step = 3_600_000;
  }, 100);
  t.after(() => clearTimeout(stepping));
  const outcome = await Promise.race([
    fromB,
    new Promise((resolve) => setTimeout(resolve, 5_000, 'still waiting for the lock after 5 s')),
  ]);
  finishA('from A');
  assert.equal(clock.step, 3_600_000, "B's clock stepped back during its wait");
  assert.equal(outcome, 'from B', 'B loads itself once lock.wait (200 ms) is over');
  assert.equal(await fromA, 'from A', 'A ends its load');
});
