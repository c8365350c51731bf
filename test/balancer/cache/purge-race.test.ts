// A purge (the purge API) while a backend fetch for the purged URL or tag is under way, through a
// real balancer to a real backend, on both stores (Redis: the real one at 6379, a key prefix
// unique to the test). The fetch's answer may predate the change the purge is for: it is served
// to the requests that asked, not stored after the purge.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type PurgeSelector, purgeTarget } from '../../../src/balancer/cache/index.js';
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
