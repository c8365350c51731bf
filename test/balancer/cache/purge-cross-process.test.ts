// A purge in one balancer process while another process sharing the Redis store has a fetch of the
// purged URL or tag under way (two balancers, not workers of one: nothing tells the other of the
// purge). The fetch's answer may predate the change the purge is for: stored after the purge, it
// was a HIT in every process for its whole max-age. The store now records each purge, and a put
// whose fetch began before one that names it is not kept.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  type PurgeSelector,
  primaryKey,
  purgeTarget,
  RedisHttpStore,
  type StoredResponse,
} from '../../../src/balancer/cache/index.js';
import { cleanupPrefix } from '../../cache/helpers.js';
import { until } from '../../helpers/until.js';
import { deferred, send } from '../helpers.js';
import { startCached } from './helpers.js';

const SELECTORS: { name: string; selector: PurgeSelector }[] = [
  { name: 'URL', selector: { urls: [purgeTarget('/doc')!], prefixes: [], tags: [] } },
  { name: 'prefix', selector: { urls: [], prefixes: [purgeTarget('/d')!], tags: [] } },
  { name: 'tag', selector: { urls: [], prefixes: [], tags: ['docs'] } },
];

describe('http cache (redis): a purge in another process during a fill', () => {
  for (const { name, selector } of SELECTORS) {
    test(`by ${name}: the fill's answer is not kept after it`, async (t) => {
      const keyPrefix = `test:http-purge-xproc:${randomUUID()}:`;
      const admin = new Redis('redis://127.0.0.1:6379');
      t.after(async () => {
        await cleanupPrefix(admin, keyPrefix);
        admin.disconnect();
      });
      const shared = { storage: 'redis' as const, redisUrl: 'redis://127.0.0.1:6379', keyPrefix };
      let version = 1;
      const held = deferred();
      let hold = true;
      const a = await startCached(
        t,
        async (_req, res) => {
          // The answer is the document as it was when the request came in.
          const body = `v${version}`;
          if (hold) await held.promise;
          res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Cache-Tag': 'docs' });
          res.end(body);
        },
        shared,
      );
      t.after(() => held.resolve());
      const b = await startCached(t, (_req, res) => res.end('unused'), shared);
      const first = send(a.port, { path: '/doc' });
      await until(() => a.backend.requests === 1);
      version = 2;
      await b.balancer.purgeCache(selector);
      hold = false;
      held.resolve();
      assert.equal((await first).body.toString(), 'v1');
      // Every answer from now on is the new document, until one is a HIT (the first refill stored).
      // A request may still join the first fill (its put under way): it then fetches for itself.
      await until(
        async () => {
          const after = await send(a.port, { path: '/doc' });
          assert.equal(after.body.toString(), 'v2', `after the purge: ${after.headers['x-cache']} v1`);
          return after.headers['x-cache'] === 'HIT';
        },
        10_000,
        'a HIT of v2',
      );
    });
  }
});

const NOW = 1_800_000_000_000;

function response(tags: string[]): StoredResponse {
  return {
    status: 200,
    statusMessage: 'OK',
    headers: [],
    body: Buffer.from('v1'),
    tags,
    vary: [],
    variant: '',
    etag: undefined,
    lastModified: undefined,
    responseTime: NOW,
    freshFor: 60_000,
    source: 'max-age',
    initialAge: 0,
    staleWhileRevalidate: 0,
    staleIfError: 0,
    noCache: false,
    mustRevalidate: false,
    expiresAt: NOW + 60_000,
  };
}

describe('redis http store: a put after another store’s purge, with the mark read before its fetch', () => {
  const cases: { name: string; purge: PurgeSelector; kept: boolean }[] = [
    { name: 'a purge of its URL', purge: SELECTORS[0]!.selector, kept: false },
    { name: 'a purge of its tag', purge: SELECTORS[2]!.selector, kept: false },
    {
      name: 'a purge of another URL and tag',
      purge: { urls: [purgeTarget('/other')!], prefixes: [], tags: ['x'] },
      kept: true,
    },
  ];
  for (const { name, purge, kept } of cases) {
    test(`${name}: ${kept ? 'kept' : 'not kept'}`, async (t) => {
      const keyPrefix = `test:http-purge-mark:${randomUUID()}:`;
      const admin = new Redis('redis://127.0.0.1:6379');
      const a = new RedisHttpStore({ url: 'redis://127.0.0.1:6379', keyPrefix });
      const b = new RedisHttpStore({ url: 'redis://127.0.0.1:6379', keyPrefix });
      t.after(async () => {
        await Promise.all([a.close(), b.close()]);
        await cleanupPrefix(admin, keyPrefix);
        admin.disconnect();
      });
      await Promise.all([a.ready(), b.ready()]);
      const key = primaryKey('a.example', '/doc');
      const since = await a.mark();
      await b.purge(purge);
      await a.put(key, response(['docs']), NOW, since);
      assert.equal((await a.get(key, NOW + 1)).length, kept ? 1 : 0);
      // A fetch begun after the purge stores as usual.
      await a.put(key, response(['docs']), NOW, await a.mark());
      assert.equal((await b.get(key, NOW + 1)).length, 1);
    });
  }

  test('a purge count Redis lost (lower than the mark): not kept', async (t) => {
    const keyPrefix = `test:http-purge-mark:${randomUUID()}:`;
    const admin = new Redis('redis://127.0.0.1:6379');
    const a = new RedisHttpStore({ url: 'redis://127.0.0.1:6379', keyPrefix });
    t.after(async () => {
      await a.close();
      await cleanupPrefix(admin, keyPrefix);
      admin.disconnect();
    });
    await a.ready();
    const key = primaryKey('a.example', '/doc');
    await a.purge(SELECTORS[0]!.selector);
    const since = await a.mark();
    await admin.del(`${keyPrefix}g`, `${keyPrefix}g:log`);
    await a.put(key, response([]), NOW, since);
    assert.equal((await a.get(key, NOW + 1)).length, 0);
  });
});
