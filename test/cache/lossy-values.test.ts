/**
 * Values the default serializer cannot bring back as they were (a class instance, a function, a
 * RegExp, an Error…) are refused with CACHE_SERIALIZE naming the key and where in the value, instead
 * of being stored as something else: the memory tier handed out the value itself while Redis gave
 * other instances (and this one, once evicted) a plain object or undefined.
 */
import assert from 'node:assert/strict';
import { after, type TestContext, test } from 'node:test';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import {
  type CacheError,
  createCache,
  jsonSerializer,
  lenientJsonSerializer,
} from '../../src/cache/index.js';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './helpers.js';

const admin = new Redis(SHARED_REDIS_URL);
const prefix = uniquePrefix('lossy');

after(async () => {
  await cleanupPrefix(admin, prefix);
  admin.disconnect();
});

function closing<T extends { close(): Promise<void> }>(t: TestContext, cache: T): T {
  t.after(() => cache.close());
  return cache;
}

class Money {
  constructor(readonly cents: number) {}
  format(): string {
    return `$${(this.cents / 100).toFixed(2)}`;
  }
}

const LOSSY: [string, unknown, RegExp][] = [
  ['a class instance', new Money(150), /Money/],
  ['a class instance inside', { order: 1, total: new Money(150) }, /Money.*"total"/],
  ['a function', () => 1, /function/],
  ['a function property', { id: 1, load: () => 1 }, /function.*"load"/],
  ['a symbol', Symbol('s'), /symbol/],
  ['a RegExp', { pattern: /a+/g }, /RegExp.*"pattern"/],
  ['an Error', new Error('boom'), /Error/],
  ['a WeakMap', new WeakMap(), /WeakMap/],
];

test('set refuses a value that would come back as something else, naming the key; nothing is stored', async (t) => {
  const a = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
  const b = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
  assert.equal(await a.ready(), true, 'A ready');
  for (const [what, value, detail] of LOSSY) {
    const key = `set:${what}`;
    const error = (await a.set(key, value).then(
      () => undefined,
      (e: unknown) => e,
    )) as CacheError | undefined;
    // Before: stored; B read {"cents":150} (no format()), undefined for a function, {} for a RegExp.
    assert.equal(
      error?.code,
      'CACHE_SERIALIZE',
      `${what}: set gave ${String(error)}; B reads ${inspect(await b.get(key))}`,
    );
    assert.match(
      error.message,
      new RegExp(`"${key}"`),
      `${what}: the message names the key: ${error.message}`,
    );
    assert.match(error.message, detail, `${what}: the message says what: ${error.message}`);
    assert.equal(a.memoryHas(key), false, `${what}: not in A's memory`);
    assert.equal(await admin.exists(`${prefix}${key}`), 0, `${what}: not in Redis`);
  }
});

test('getOrSet answers a lossy value from its loader but stores it nowhere, and reports why', async (t) => {
  const cache = closing(t, createCache({ prefix, redis: { url: SHARED_REDIS_URL } }));
  const errors: CacheError[] = [];
  cache.on('error', (error) => errors.push(error));
  const money = new Money(250);
  assert.equal(await cache.getOrSet('price', () => money), money, 'the caller gets what the loader gave');
  assert.equal(cache.memoryHas('price'), false, 'not kept in memory');
  assert.equal(await admin.exists(`${prefix}price`), 0, 'not stored in Redis');
  const reported = errors.find((e) => e.code === 'CACHE_SERIALIZE');
  assert.ok(reported, `a CACHE_SERIALIZE error was reported: ${errors.map(String).join('; ')}`);
  assert.match(reported.message, /"price"/, `names the key: ${reported.message}`);
  assert.match(reported.message, /Money/, `says what: ${reported.message}`);
});

test('what the serializer keeps still goes through: plain data, Date, Map, Set, BigInt, undefined, toJSON objects', () => {
  const value = {
    at: new Date(0),
    m: new Map([['k', 1n]]),
    s: new Set([undefined]),
    u: new URL('http://example.test/x'),
    n: Object.assign(Object.create(null), { a: 1 }),
  };
  const back = jsonSerializer.deserialize(jsonSerializer.serialize(value)) as typeof value;
  assert.deepEqual(back.at, value.at);
  assert.deepEqual(back.m, value.m);
  assert.deepEqual(back.s, value.s);
  assert.equal(back.u as unknown, 'http://example.test/x', 'an object with toJSON becomes what toJSON gives');
  assert.deepEqual({ ...back.n }, { a: 1 });
});

test('lenientJsonSerializer stores class instances as their fields, as the default did before', () => {
  const back = lenientJsonSerializer.deserialize(lenientJsonSerializer.serialize(new Money(150)));
  assert.deepEqual(back, { cents: 150 });
});
