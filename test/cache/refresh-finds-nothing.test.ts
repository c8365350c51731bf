// A refresh whose loader finds nothing (the row was deleted), on the real Redis at 6379 under a
// key prefix unique to the run, with negative caching off (the default).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache } from '../../src/cache/index.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefixes: string[] = [];

after(async () => {
  for (const prefix of prefixes) await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

test('a background refresh that finds nothing ends the stale value in Redis too: the next read loads', async (t) => {
  // Before, the refresh dropped the memory tier's copy only: the stale value stayed in Redis, so
  // every read for the rest of stale-while-revalidate served the deleted value again (read back
  // from Redis) and started one more refresh, one loader call per read, all finding nothing.
  const prefix = uniquePrefix('refresh-nothing');
  prefixes.push(prefix);
  let now = 1_000_000;
  const cache = createCache({
    prefix,
    redis: { url: SHARED_REDIS_URL },
    clock: { now: () => now },
    jitter: 0,
    ttl: 1000,
    staleWhileRevalidate: 600_000,
  });
  t.after(() => cache.close());
  assert.equal(await cache.ready(), true, 'Redis answers');
  let row: string | null = 'v1';
  let calls = 0;
  const loader = () => {
    calls++;
    return row;
  };
  assert.equal(await cache.getOrSet('k', loader), 'v1');
  row = null;
  now += 2000;
  assert.equal(await cache.getOrSet('k', loader), 'v1', 'a stale value is served while it is refreshed');
  await until(() => calls === 2 && !cache.loading('k'), 10_000, 'the background refresh');
  const next = await cache.getOrSet('k', loader);
  assert.equal(
    next,
    null,
    `the read after a refresh that found nothing gets the loader's answer, got ${next}`,
  );
  assert.equal(calls, 3, 'that read called the loader');
  assert.equal(await cache.get('k'), undefined, 'nothing is stored for the key');
});
