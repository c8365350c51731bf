/**
 * A value and its tag index entries reach Redis together or not at all. A loaded value with tags
 * used to be stored by one command and indexed by others sent after its reply: a connection lost
 * (or a process killed) in between left the value in Redis listed by no tag, where no deleteByTag
 * of any instance could reach it for its whole TTL. The link is cut here by a proxy that stalls the
 * connection on which the tag's key next passes, then drops it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache, isTombstone } from '../../src/cache/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

test('a tagged load whose connection is lost on its way to Redis leaves no value deleteByTag cannot reach', async (t) => {
  const prefix = uniquePrefix('atomic-index');
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
    redis: { url: `redis://127.0.0.1:${proxy.port}`, commandTimeout: '300ms' },
  });
  a.on('error', () => {}); // the lost connection is the point; its report is not under test
  t.after(() => a.close());
  const b = createCache({ prefix, ttl: '1m', memory: false, redis: { url: SHARED_REDIS_URL } });
  t.after(() => b.close());
  assert.deepEqual([await a.ready(), await b.ready()], [true, true]);

  // The connection stalls when the tag's index key passes on it, and is then cut for good.
  proxy.holdOn(`${prefix}__tag:t`);
  const loading = a.getOrSet('k', (context) => {
    context.setTags(['t']);
    return 'v1';
  });
  await until(() => proxy.holding(), 10_000, 'the index write sent and stalled');
  proxy.dropHeld();
  assert.equal(await loading, 'v1', "the load's caller gets what it loaded");

  await b.deleteByTag('t');
  // deleteByTag resolves once its tombstones are written: what Redis holds now is final.
  const raw = await admin.getBuffer(`${prefix}k`);
  assert.ok(
    raw === null || isTombstone(raw),
    `after deleteByTag('t') Redis still holds an entry for k, listed by no tag (index: ${JSON.stringify(
      await admin.smembers(`${prefix}__tag:t`),
    )})`,
  );
  assert.equal(await b.get('k'), undefined, 'no instance reads the value deleteByTag removed');
});
