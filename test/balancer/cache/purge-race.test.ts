// A purge (the purge API) while a backend fetch for the purged URL or tag is under way, through a
// real balancer to a real backend, on both stores (Redis: the real one at 6379, a key prefix
// unique to the test). The fetch's answer may predate the change the purge is for: it is served
// to the requests that asked, not stored after the purge.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type PurgeSelector, purgeTarget, RedisHttpStore } from '../../../src/balancer/cache/index.js';
import type { HttpCacheConfig } from '../../../src/config/types.js';
import { until } from '../../helpers/until.js';
import { deferred, send } from '../helpers.js';
import { startCached } from './helpers.js';

const STORAGES: { name: string; cache: () => Partial<HttpCacheConfig> }[] = [
  { name: 'memory', cache: () => ({}) },
  {
    name: 'redis',
    cache: () => ({
      storage: 'redis',
      redisUrl: 'redis://127.0.0.1:6379',
      keyPrefix: `test:http-purge-race:${randomUUID()}:`,
    }),
  },
];

const SELECTORS: { name: string; selector: PurgeSelector }[] = [
  { name: 'URL', selector: { urls: [purgeTarget('/doc')!], prefixes: [], tags: [] } },
  { name: 'prefix', selector: { urls: [], prefixes: [purgeTarget('/d')!], tags: [] } },
  { name: 'tag', selector: { urls: [], prefixes: [], tags: ['docs'] } },
];

for (const storage of STORAGES) {
  describe(`http cache (${storage.name}): a purge during a fill`, () => {
    for (const { name, selector } of SELECTORS) {
      test(`by ${name}: the fill's answer is not stored after it`, async (t) => {
        let version = 1;
        const held = deferred();
        let hold = true;
        const c = await startCached(
          t,
          async (_req, res) => {
            // The answer is the document as it was when the request came in.
            const body = `v${version}`;
            if (hold) await held.promise;
            res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Cache-Tag': 'docs' });
            res.end(body);
          },
          storage.cache(),
        );
        t.after(() => held.resolve());
        const first = send(c.port, { path: '/doc' });
        await until(() => c.backend.requests === 1);
        version = 2;
        await c.balancer.purgeCache(selector);
        hold = false;
        held.resolve();
        assert.equal((await first).body.toString(), 'v1');
        const after = await send(c.port, { path: '/doc' });
        assert.equal(after.body.toString(), 'v2', `after the purge: ${after.headers['x-cache']} v1`);
        const again = await send(c.port, { path: '/doc' });
        assert.equal(again.headers['x-cache'], 'HIT');
        assert.equal(again.body.toString(), 'v2');
      });
    }
  });
}

describe('http cache (redis): a purge while a put is under way', () => {
  test('the put lands before the purge, not after it: the purged answer is not a HIT afterwards', async (t) => {
    // A Redis put is two round trips, sent once the fetch passed its purge check; the fill's client
    // has its answer before the put lands. Held here at the store, it stands for those round trips.
    let version = 1;
    const c = await startCached(
      t,
      (_req, res) => {
        res.writeHead(200, { 'Cache-Control': 'max-age=60', 'Cache-Tag': 'docs' });
        res.end(`v${version}`);
      },
      {
        storage: 'redis',
        redisUrl: 'redis://127.0.0.1:6379',
        keyPrefix: `test:http-purge-put:${randomUUID()}:`,
      },
    );
    const proto = RedisHttpStore.prototype;
    const { put, purge } = proto;
    const entered = deferred();
    const gate = deferred();
    const purged = deferred();
    let landed = false;
    proto.put = async function (this: RedisHttpStore, ...args: Parameters<typeof put>) {
      entered.resolve();
      await gate.promise;
      await put.apply(this, args);
      landed = true;
    };
    proto.purge = async function (this: RedisHttpStore, ...args: Parameters<typeof purge>) {
      const removed = await purge.apply(this, args);
      purged.resolve();
      return removed;
    };
    t.after(() => {
      proto.put = put;
      proto.purge = purge;
      gate.resolve();
    });
    const first = await send(c.port, { path: '/doc' });
    assert.equal(first.body.toString(), 'v1');
    await entered.promise;
    version = 2;
    const purging = c.balancer.purgeCache({ urls: [], prefixes: [], tags: ['docs'] });
    // The put goes on once the store's purge is done (before: it then landed after it), or, when
    // the purge waits for the put, after a second.
    const fallback = new Promise((resolve) => setTimeout(resolve, 1000).unref());
    await Promise.race([purged.promise, fallback]);
    gate.resolve();
    await purging;
    await until(() => landed);
    proto.put = put;
    proto.purge = purge;
    const after = await send(c.port, { path: '/doc' });
    assert.equal(
      after.body.toString(),
      'v2',
      `after the purge returned: ${after.headers['x-cache']} ${after.body.toString()}`,
    );
  });
});
