import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEntry, type CacheEntry, MemoryStore } from '../../src/cache/index.js';

function entry(value: unknown, tags: string[] = [], ttl = 1000): CacheEntry {
  return buildEntry(
    value,
    tags,
    { ttl, jitter: 0, earlyRefresh: 0, staleWhileRevalidate: 0, staleIfError: 0, negativeTtl: 0 },
    0,
    Math.random,
  )!;
}

test('bounded by entries: SIEVE keeps visited entries and evicts the unvisited', () => {
  const store = new MemoryStore({ maxEntries: 3, maxBytes: 1e9 });
  for (const k of ['a', 'b', 'c']) store.set(k, entry(k), 1);
  store.get('a', 0);
  store.set('d', entry('d'), 1);
  assert.deepEqual(
    ['a', 'b', 'c', 'd'].filter((k) => store.has(k)),
    ['a', 'c', 'd'],
  );
  store.set('e', entry('e'), 1);
  // 'a' lost its visited bit when the hand passed; 'c' was the next unvisited.
  assert.deepEqual(
    ['a', 'c', 'd', 'e'].filter((k) => store.has(k)),
    ['a', 'd', 'e'],
  );
  assert.equal(store.size, 3);
  assert.equal(store.evictions, 2);
});

test('bounded by bytes, and an entry larger than the budget is not kept', () => {
  const store = new MemoryStore({ maxEntries: 100, maxBytes: 3 * (100 + 2 + 96) });
  for (const k of ['a', 'b', 'c', 'd']) store.set(k, entry(k), 100);
  assert.equal(store.size, 3);
  assert.ok(store.bytes <= 3 * 198, 'store.bytes <= 3 * 198');
  store.set('huge', entry('x'), 10_000);
  assert.equal(store.has('huge'), false);
  store.set('b', entry('b2'), 100);
  assert.equal(store.size, 3, 'replacing a key does not grow the store');
});

test('entries past their grace period are dropped on read', () => {
  const store = new MemoryStore({ maxEntries: 10, maxBytes: 1e6 });
  store.set('a', entry('a', [], 100), 1);
  assert.equal(store.get('a', 99)?.value, 'a');
  assert.equal(store.get('a', 100), undefined);
  assert.equal(store.size, 0);
});

test('deleteByTag evicts every tagged entry and cleans the index on eviction', () => {
  const store = new MemoryStore({ maxEntries: 2, maxBytes: 1e6 });
  store.set('a', entry('a', ['x']), 1);
  store.set('b', entry('b', ['x', 'y']), 1);
  assert.equal(store.deleteByTag('x'), 2);
  assert.equal(store.size, 0);
  store.set('c', entry('c', ['y']), 1);
  store.set('d', entry('d'), 1);
  store.set('e', entry('e'), 1); // evicts c
  assert.equal(store.deleteByTag('y'), 0);
  store.clear();
  assert.equal(store.bytes, 0);
});
