// Hit-for-miss: once a fill finds a key's response uncacheable, the key's next requests go to the
// backend at once and in parallel instead of queueing behind one fill each time. Through a real
// balancer to a real backend; the backend holds its answers until the requests it expects are in
// (or one is seen waiting on another), so the counts do not depend on timing.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { describe, test } from 'node:test';
import { purgeSelector } from '../../../src/balancer/cache/index.js';
import { until } from '../../helpers/until.js';
import { send } from '../helpers.js';
import { type Cached, clock, metricValue, startCached } from './helpers.js';

const N = 8;

const coalesced = (c: Cached) => metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total');
const hitForMiss = (c: Cached) => metricValue(c.metrics, 'scaleplane_http_cache_hit_for_miss_total');

describe('http cache: hit-for-miss', () => {
  test(`after an uncacheable fill, ${N} concurrent requests reach the backend together`, async (t) => {
    const clk = clock();
    const held: (() => void)[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let gated = false;
    let released = false;
    const c = await startCached(
      t,
      (_req, res) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        held.push(() => {
          inFlight--;
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'private, max-age=0' });
          res.end('mine');
        });
        // The first fill answers at once; then the batch is held until all N are in at the backend
        // together, or one of them is seen queueing behind another (the bug: it would never arrive).
        if (c.backend.requests === 1 || released) held.shift()!();
        else if (!gated) {
          gated = true;
          until(async () => held.length >= N || (await coalesced(c)) > 0).then(() => {
            released = true;
            for (const answer of held.splice(0)) answer();
          });
        }
      },
      {},
      { clock: clk },
    );
    assert.equal((await send(c.port, { path: '/account' })).headers['x-cache'], 'MISS');
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/account' })));
    assert.equal(await coalesced(c), 0, 'nobody waited for another request');
    assert.equal(maxInFlight, N, 'the backend had all of them at once');
    assert.equal(await hitForMiss(c), N);
    assert.equal(c.backend.requests, N + 1);
    assert.ok(
      replies.every(
        (r) => r.status === 200 && r.headers['x-cache'] === 'MISS' && r.body.toString() === 'mine',
      ),
      "replies.every((r) => r.status === 200 && r.headers['x-cache'] === 'MISS' && r.body.toString() === 'mine',)",
    );
  });

  test('a cacheable response ends it: stored, then hit', async (t) => {
    const clk = clock();
    let cacheable = false;
    const c = await startCached(
      t,
      (_req, res) => {
        const headers: http.OutgoingHttpHeaders = cacheable
          ? { Date: clk.date(), 'Cache-Control': 'max-age=60' }
          : { Date: clk.date(), 'Set-Cookie': 'session=1' };
        res.writeHead(200, headers);
        res.end(cacheable ? 'shared' : 'cookie');
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/page' });
    assert.equal((await send(c.port, { path: '/page' })).body.toString(), 'cookie');
    assert.equal(await hitForMiss(c), 1);
    cacheable = true;
    const fill = await send(c.port, { path: '/page' });
    assert.equal(fill.headers['x-cache'], 'MISS');
    assert.equal(await hitForMiss(c), 2, 'still marked when it went');
    const hit = await send(c.port, { path: '/page' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body.toString(), 'shared');
    assert.equal(c.backend.requests, 3);
  });

  test('a 5xx starts no hit-for-miss: the next misses still coalesce', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (_req, res) => {
        if (c.backend.requests === 1) {
          res.writeHead(503, { Date: clk.date() });
          res.end('down');
          return;
        }
        until(async () => (await coalesced(c)) >= N - 1 || (await hitForMiss(c)) > 0).then(() => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
          res.end('up');
        });
      },
      {},
      { clock: clk },
    );
    assert.equal((await send(c.port, { path: '/x' })).status, 503);
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/x' })));
    assert.equal(await hitForMiss(c), 0);
    assert.equal(c.backend.requests, 2, 'one fill for the whole batch');
    assert.ok(
      replies.every((r) => r.body.toString() === 'up'),
      "replies.every((r) => r.body.toString() === 'up')",
    );
  });

  test('hit_for_miss: 0 turns it off', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (_req, res) => {
        res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'no-store' });
        res.end('fresh each time');
      },
      { hitForMiss: 0 },
      { clock: clk },
    );
    for (let i = 0; i < 3; i++) await send(c.port, { path: '/n' });
    assert.equal(await hitForMiss(c), 0);
    assert.equal(c.backend.requests, 3);
  });

  test('a POST during a hit-for-miss fill keeps that fill out of the store', async (t) => {
    const clk = clock();
    let release: (() => void) | undefined;
    let gets = 0;
    const c = await startCached(
      t,
      (req, res) => {
        if (req.method === 'POST') {
          req.resume();
          res.writeHead(204, { Date: clk.date() });
          res.end();
          return;
        }
        gets++;
        if (gets === 1) {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'private' });
          res.end('v0');
          return;
        }
        // Cacheable from now on; the second GET is held until the POST has changed the resource.
        const answer = () => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
          res.end(`v${gets}`);
        };
        if (gets === 2) release = answer;
        else answer();
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/item' });
    const held = send(c.port, { path: '/item' });
    await until(() => release !== undefined);
    assert.equal((await send(c.port, { method: 'POST', path: '/item', body: 'x' })).status, 204);
    release!();
    assert.equal((await held).body.toString(), 'v2');
    assert.equal(await hitForMiss(c), 1);
    const after = await send(c.port, { path: '/item' });
    assert.equal(after.headers['x-cache'], 'MISS', 'the answer from before the POST was not stored');
    assert.equal(after.body.toString(), 'v3');
  });

  // A purge means "forget what you knew about this URL": the mark goes with it, so the URL's next
  // requests coalesce again (its backend may have been fixed to answer cacheably).
  const purges: { name: string; request: { urls?: string[]; prefix?: string } }[] = [
    { name: 'by URL', request: { urls: ['http://shop.example/account'] } },
    { name: 'by path (every host)', request: { urls: ['/account'] } },
    { name: 'by prefix', request: { prefix: 'http://shop.example/acc' } },
    { name: 'by host', request: { prefix: 'http://shop.example/' } },
  ];
  for (const purge of purges) {
    test(`a purge ${purge.name} forgets the hit-for-miss marks it names, and only those`, async (t) => {
      const clk = clock();
      const c = await startCached(
        t,
        (_req, res) => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'private' });
          res.end('mine');
        },
        {},
        { clock: clk },
      );
      const get = (path: string, host: string) => send(c.port, { path, headers: { host } });
      await get('/account', 'shop.example');
      await get('/other', 'blog.example');
      const selector = purgeSelector(purge.request);
      assert.ok(typeof selector !== 'string', String(selector));
      await c.balancer.purgeCache(selector);
      await get('/account', 'shop.example');
      assert.equal(await hitForMiss(c), 0, 'the purged URL was filled as any other (no mark)');
      await get('/other', 'blog.example');
      assert.equal(await hitForMiss(c), 1, 'a mark the purge did not name is kept');
    });
  }
});
