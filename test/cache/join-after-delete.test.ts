/**
 * A call made after a delete (or set) of its key returned never gets the value of a load that began
 * before it: on real Redis, with the delete made here and on another instance.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { createCache } from '../../src/cache/index.js';
import { until } from '../helpers/until.js';
import { cleanupPrefix, SHARED_REDIS_URL } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefixes: string[] = [];

after(async () => {
  for (const prefix of prefixes) await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

function prefixFor(label: string): string {
  const prefix = `sp-c24-join-${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
  prefixes.push(prefix);
  return prefix;
}

function closing<T extends { close(): Promise<void> }>(t: TestContext, cache: T): T {
  t.after(() => cache.close());
  return cache;
}

/** A database of one row the test changes, and a loader held on a gate after it has read the row. */
function slowDatabase() {
  let row = 'v1';
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    write: (value: string) => {
      row = value;
    },
    release: () => open(),
    /** Reads the row, then waits for release(): a load that began before the write. */
    slowLoader: async () => {
      const read = row;
      await gate;
      return read;
    },
    loader: () => row,
  };
}

for (const memory of [true, false]) {
  test(`a call after a local delete does not join the load from before it (memory tier ${memory ? 'on' : 'off'})`, async (t) => {
    const db = slowDatabase();
    const cache = closing(
      t,
      createCache({
        prefix: prefixFor(`local-${memory}`),
        redis: { url: SHARED_REDIS_URL },
        ...(memory ? {} : { memory: false }),
      }),
    );
    assert.equal(await cache.ready(), true, 'Redis answers');
    const before = cache.getOrSet('k', db.slowLoader);
    await until(() => cache.loading('k'), 5000, 'the first load under way');
    db.write('v2');
    await cache.delete('k');
    const afterDelete = cache.getOrSet('k', db.loader);
    db.release();
    assert.equal(await before, 'v1', 'the call from before the delete may get the old row');
    assert.equal(await afterDelete, 'v2', 'a call made after delete() returned got the row from before it');
    assert.equal(await cache.get('k'), 'v2');
  });
}

test('a call after another instance’s delete (its notice in) does not join the load from before it', async (t) => {
  const db = slowDatabase();
  const prefix = prefixFor('remote');
  const a = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
  const b = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
  assert.equal(await a.ready(), true, 'A: Redis answers');
  assert.equal(await b.ready(), true, 'B: Redis answers');
  const before = a.getOrSet('k', db.slowLoader);
  await until(() => a.loading('k'), 5000, 'A’s first load under way');
  db.write('v2');
  const notice = once(a, 'invalidate');
  await b.delete('k');
  await notice;
  const afterDelete = a.getOrSet('k', db.loader);
  db.release();
  assert.equal(await before, 'v1');
  assert.equal(
    await afterDelete,
    'v2',
    'A answered a call made after B’s delete with the row from before it',
  );
});

for (const where of ['here', 'on another instance'] as const) {
  for (const how of ['options', 'setTags'] as const) {
    test(`a call after a deleteByTag ${where} does not join the load from before it (tag given by ${how})`, async (t) => {
      const db = slowDatabase();
      const prefix = prefixFor(`tag-${where === 'here' ? 'local' : 'remote'}-${how}`);
      const a = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
      const b = where === 'here' ? a : closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
      assert.equal(await a.ready(), true, 'A: Redis answers');
      assert.equal(await b.ready(), true, 'B: Redis answers');
      const before =
        how === 'options'
          ? a.getOrSet('user:1', db.slowLoader, { tags: ['users'] })
          : a.getOrSet('user:1', (context) => {
              context.setTags(['users']);
              return db.slowLoader();
            });
      await until(() => a.loading('user:1'), 5000, 'A’s first load under way');
      db.write('v2');
      const notice = where === 'here' ? undefined : once(a, 'invalidate');
      await b.deleteByTag('users');
      await notice;
      const afterDelete = a.getOrSet('user:1', db.loader, { tags: ['users'] });
      db.release();
      assert.equal(await before, 'v1');
      assert.equal(await afterDelete, 'v2', 'a call made after deleteByTag got the row from before it');
    });
  }
}
