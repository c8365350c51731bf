// Bad arguments to the cache's calls are refused with a CacheOptionError naming the argument, on the
// cache and on a namespace, as a rejection (never a TypeError from deep inside, never stored).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CacheApi, CacheOptionError, createCache } from '../../src/cache/index.js';

// biome-ignore lint/suspicious/noExplicitAny: the point is to pass what the types forbid.
type Any = any;

const CASES: { name: string; call: (cache: CacheApi) => Promise<unknown>; option: string; seen: string }[] = [
  {
    name: 'getOrSet with a number key',
    call: (c) => c.getOrSet(5 as Any, () => 1),
    option: 'key',
    seen: '5',
  },
  {
    name: 'get with an undefined key',
    call: (c) => c.get(undefined as Any),
    option: 'key',
    seen: 'undefined',
  },
  { name: 'set with a number key', call: (c) => c.set(7 as Any, 1), option: 'key', seen: '7' },
  { name: 'delete with a null key', call: (c) => c.delete(null as Any), option: 'key', seen: 'null' },
  {
    name: 'getOrSet with a loader that is not a function',
    call: (c) => c.getOrSet('k', 3 as Any),
    option: 'loader',
    seen: '3',
  },
  { name: 'deleteByTag with a number', call: (c) => c.deleteByTag(5 as Any), option: 'tags', seen: '5' },
  { name: 'deleteByTag with [5]', call: (c) => c.deleteByTag([5] as Any), option: 'tags', seen: 'an array' },
  {
    name: 'set with tags as a string',
    call: (c) => c.set('k', 1, { tags: 'x' as Any }),
    option: 'tags',
    seen: '"x"',
  },
];

for (const [where, scope] of [
  ['cache', (c: CacheApi) => c],
  ['namespace', (c: CacheApi) => c.namespace('ns')],
] as const) {
  for (const { name, call, option, seen } of CASES) {
    test(`${where}: ${name} is refused naming ${option}`, async (t) => {
      const cache = createCache({ redis: false });
      t.after(() => cache.close());
      let result: unknown;
      try {
        result = call(scope(cache));
      } catch (error) {
        assert.fail(`threw at once instead of rejecting: ${(error as Error).message}`);
      }
      await assert.rejects(result as Promise<unknown>, (error: Error) => {
        assert.ok(error instanceof CacheOptionError, `got ${error.name}: ${error.message}`);
        assert.equal(error.option, option, `named ${error.option}: ${error.message}`);
        assert.ok(
          error.message.includes(seen),
          `the message says what was given (${seen}): ${error.message}`,
        );
        return true;
      });
    });
  }
}
