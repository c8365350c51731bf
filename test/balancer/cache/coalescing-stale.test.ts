// Request coalescing, stale-while-revalidate and stale-if-error, through a real balancer to real
// backends. The backend holds its answer until every client request is known to wait, so the
// counts do not depend on timing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { until } from '../../helpers/until.js';
import { ready, refusedAddress, send } from '../helpers.js';
import { cacheCount, clock, metricValue, startCached } from './helpers.js';

const N = 40;

describe('http cache: coalescing', () => {
  test(`${N} concurrent misses of one key make one backend request`, async (t) => {
    const clk = clock();
    let coalesced = 0;
    const c = await startCached(
      t,
      (_req, res) => {
        // Answer only once the other N-1 requests wait on this one.
        until(async () => {
          coalesced = await metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total');
          return coalesced >= N - 1;
        }).then(() => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
          res.end('filled once');
        });
      },
      {},
      { clock: clk },
    );
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/hot' })));
    assert.equal(c.backend.requests, 1);
    assert.equal(coalesced, N - 1);
    assert.ok(
      replies.every((r) => r.status === 200 && r.body.toString() === 'filled once'),
      "replies.every((r) => r.status === 200 && r.body.toString() === 'filled once')",
    );
    const results = replies.map((r) => r.headers['x-cache']);
    assert.equal(results.filter((x) => x === 'MISS').length, 1);
    assert.equal(results.filter((x) => x === 'HIT').length, N - 1);
  });

  test('waiters of another Vary variant than the fill stored make one request for theirs', async (t) => {
    // Varnish's waiting list: after the rush, the waiters whose variant is not the one stored make
    // one fetch for theirs, and wait on it. Before, each went to the backend on its own and none
    // stored its answer: 20 concurrent requests, 10 gzip and 10 br, made 11 backend requests.
    const clk = clock();
    const half = N / 4;
    const coalesced = () => metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total');
    const c = await startCached(
      t,
      (req, res) => {
        const coding = req.headers['accept-encoding'] ?? 'none';
        const answer = () => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60', Vary: 'Accept-Encoding' });
          res.end(`for ${coding}`);
        };
        // The gzip fill waits for all other 2*half-1 requests; the br one for its half-1 waiters
        // to queue on it again (bounded: without the fix nobody queues, and each br is answered).
        const waiting = coding === 'gzip' ? 2 * half - 1 : 2 * half - 1 + half - 1;
        until(async () => (await coalesced()) >= waiting, coding === 'gzip' ? 10_000 : 2_000)
          .catch(() => {})
          .then(answer);
      },
      {},
      { clock: clk },
    );
    const ask = (coding: string) => send(c.port, { path: '/vary', headers: { 'Accept-Encoding': coding } });
    const leader = ask('gzip');
    await until(() => c.backend.requests >= 1, 10_000, 'the gzip fill at the backend');
    const others = Array.from({ length: 2 * half - 1 }, (_, i) => ask(i < half - 1 ? 'gzip' : 'br'));
    const replies = await Promise.all([leader, ...others]);
    const shown = replies.map((r) => `${r.body.toString()} ${r.headers['x-cache']}`);
    assert.ok(
      replies.every((r, i) => r.body.toString() === (i < half ? 'for gzip' : 'for br')),
      `each got its own variant: ${shown}`,
    );
    assert.equal(c.backend.requests, 2, `one fill per variant: ${shown}`);
    assert.equal(replies.filter((r) => r.headers['x-cache'] === 'MISS').length, 2, `${shown}`);
    const later = await ask('br');
    assert.equal(later.headers['x-cache'], 'HIT', 'the br variant was stored');
  });

  test('concurrent requests for an expired entry make one revalidation', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        if (req.headers['if-none-match'] === undefined) {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=1', ETag: '"v1"' });
          res.end('v1');
          return;
        }
        until(
          async () => (await metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total')) >= N - 1,
        ).then(() => {
          res.writeHead(304, { Date: clk.date(), 'Cache-Control': 'max-age=1', ETag: '"v1"' });
          res.end();
        });
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/r' });
    clk.advance(2000);
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/r' })));
    assert.equal(c.backend.requests, 2);
    assert.ok(
      replies.every((r) => r.status === 200 && r.body.toString() === 'v1'),
      "replies.every((r) => r.status === 200 && r.body.toString() === 'v1')",
    );
    assert.equal(replies.filter((r) => r.headers['x-cache'] === 'REVALIDATED').length, 1);
  });

  test('a response that may not be shared is not handed to the waiters: each asks for itself', async (t) => {
    const clk = clock();
    let first = true;
    const c = await startCached(
      t,
      (_req, res) => {
        const answer = () => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'private, max-age=60' });
          res.end('mine');
        };
        if (!first) return answer();
        first = false;
        until(async () => (await metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total')) >= 4).then(
          answer,
        );
      },
      {},
      { clock: clk },
    );
    const replies = await Promise.all(Array.from({ length: 5 }, () => send(c.port, { path: '/private' })));
    assert.equal(c.backend.requests, 5);
    assert.ok(
      replies.every((r) => r.headers['x-cache'] === 'MISS' && r.body.toString() === 'mine'),
      "replies.every((r) => r.headers['x-cache'] === 'MISS' && r.body.toString() === 'mine')",
    );
  });

  test('a response already stale when it arrives (Age past its max-age) is not handed to the waiters as fresh', async (t) => {
    const clk = clock();
    let first = true;
    const c = await startCached(
      t,
      (_req, res) => {
        if (!first) {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
          res.end('fresh');
          return;
        }
        first = false;
        // From a cache upstream: 120 s old, for a max-age of 60 s.
        until(
          async () => (await metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total')) >= N - 1,
        ).then(() => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60', Age: '120' });
          res.end('stale on arrival');
        });
      },
      {},
      { clock: clk },
    );
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/aged' })));
    const stale = replies.filter((r) => r.body.toString() === 'stale on arrival');
    assert.equal(stale.length, 1, `${stale.length} of ${N} clients got the response that arrived stale`);
    assert.equal(stale[0]!.headers['x-cache'], 'MISS', 'the client whose request fetched it gets it');
    assert.equal(c.backend.requests, N, 'each waiter asked the backend for itself');
  });

  test('a response that arrives within its stale-while-revalidate is handed to the waiters as STALE', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (_req, res) => {
        until(
          async () => (await metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total')) >= N - 1,
        ).then(() => {
          res.writeHead(200, {
            Date: clk.date(),
            'Cache-Control': 'max-age=60, stale-while-revalidate=600',
            Age: '120',
          });
          res.end('stale on arrival');
        });
      },
      {},
      { clock: clk },
    );
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/aged' })));
    const results = replies.map((r) => r.headers['x-cache']);
    assert.equal(results.filter((x) => x === 'STALE').length, N - 1, `X-Cache of the waiters: ${results}`);
  });
});

describe('http cache: stale-while-revalidate', () => {
  test('stale within the window is served at once and refreshed by one background request', async (t) => {
    const clk = clock();
    let version = 1;
    const c = await startCached(
      t,
      (_req, res) => {
        const answer = () => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=1, stale-while-revalidate=30' });
          res.end(`v${version++}`);
        };
        // The refresh waits until all ten were served stale, so none of them can see it early.
        if (version === 1) answer();
        else until(async () => (await cacheCount(c.metrics, 'STALE')) >= 10).then(answer);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/swr' });
    clk.advance(2000);
    const stale = await Promise.all(Array.from({ length: 10 }, () => send(c.port, { path: '/swr' })));
    assert.ok(
      stale.every((r) => r.headers['x-cache'] === 'STALE' && r.body.toString() === 'v1'),
      "stale.every((r) => r.headers['x-cache'] === 'STALE' && r.body.toString() === 'v1')",
    );
    assert.ok(
      stale.every((r) => r.headers.age === '2'),
      "stale.every((r) => r.headers.age === '2')",
    );
    await until(async () => (await metricValue(c.metrics, 'scaleplane_http_cache_stores_total')) >= 2);
    assert.equal(c.backend.requests, 2, 'one fill, one background refresh');
    assert.equal(await metricValue(c.metrics, 'scaleplane_http_cache_background_revalidations_total'), 1);
    const fresh = await send(c.port, { path: '/swr' });
    assert.equal(fresh.headers['x-cache'], 'HIT');
    assert.equal(fresh.body.toString(), 'v2');
  });

  for (const answer of [
    { name: 'a 200 with private', status: 200, cacheControl: 'private, max-age=60' },
    { name: 'a 200 with no-store', status: 200, cacheControl: 'no-store' },
    { name: 'a 304 with private', status: 304, cacheControl: 'private, max-age=60' },
  ]) {
    test(`a background revalidation answered by ${answer.name} removes the stored copy`, async (t) => {
      // The answer is the resource's current representation and says it may not be stored here:
      // the old copy must not go on serving. Before, it stayed STALE for the whole window (30 s).
      const clk = clock();
      let revalidated = false;
      const c = await startCached(
        t,
        (req, res) => {
          if (!revalidated) {
            res.writeHead(200, {
              Date: clk.date(),
              ETag: '"v1"',
              'Cache-Control': 'max-age=1, stale-while-revalidate=30',
            });
            res.end('shared v1');
            return;
          }
          const status = req.headers['if-none-match'] === '"v1"' ? answer.status : 200;
          res.writeHead(status, { Date: clk.date(), ETag: '"v1"', 'Cache-Control': answer.cacheControl });
          res.end(status === 304 ? undefined : 'for one client');
        },
        {},
        { clock: clk },
      );
      await send(c.port, { path: '/swr' });
      clk.advance(2000);
      revalidated = true;
      const stale = await send(c.port, { path: '/swr' });
      assert.equal(stale.headers['x-cache'], 'STALE', 'served stale while revalidating');
      await until(
        async () => (await metricValue(c.metrics, 'scaleplane_http_cache_superseded_total')) >= 1,
        10_000,
        'the stored copy superseded',
      );
      clk.advance(1000);
      const after = await send(c.port, { path: '/swr' });
      assert.equal(after.headers['x-cache'], 'MISS', 'the old copy no longer answers');
      assert.equal(after.body.toString(), 'for one client');
      assert.equal(c.backend.requests, 3, 'fill, background revalidation, this request');
    });
  }

  test('a background revalidation answered 503 keeps the stored copy (stale-if-error is for that)', async (t) => {
    const clk = clock();
    let failing = false;
    const c = await startCached(
      t,
      (_req, res) => {
        res.writeHead(failing ? 503 : 200, {
          Date: clk.date(),
          'Cache-Control': 'max-age=1, stale-while-revalidate=30',
        });
        res.end(failing ? 'down' : 'v1');
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/swr' });
    clk.advance(2000);
    failing = true;
    assert.equal((await send(c.port, { path: '/swr' })).headers['x-cache'], 'STALE');
    await until(() => c.backend.requests >= 2, 10_000, 'the background revalidation');
    assert.equal(await metricValue(c.metrics, 'scaleplane_http_cache_superseded_total'), 0);
  });

  test('past the window the request waits for the backend', async (t) => {
    const clk = clock();
    let version = 1;
    const c = await startCached(
      t,
      (_req, res) => {
        res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=1, stale-while-revalidate=5' });
        res.end(`v${version++}`);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/swr' });
    clk.advance(7000);
    const reply = await send(c.port, { path: '/swr' });
    assert.equal(reply.headers['x-cache'], 'MISS');
    assert.equal(reply.body.toString(), 'v2');
  });

  test('the config default applies when the response names no window', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (_req, res) => {
        res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=1' });
        res.end('x');
      },
      { staleWhileRevalidate: 10_000 },
      { clock: clk },
    );
    await send(c.port, { path: '/d' });
    clk.advance(3000);
    assert.equal((await send(c.port, { path: '/d' })).headers['x-cache'], 'STALE');
  });
});

describe('http cache: stale-if-error', () => {
  test('a 5xx or a connect failure within the window gets the stale response; past it, the error', async (t) => {
    const clk = clock();
    let failing = false;
    const c = await startCached(
      t,
      (_req, res) => {
        if (failing) {
          res.writeHead(500, { Date: clk.date() });
          res.end('broken');
          return;
        }
        res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=1, stale-if-error=60' });
        res.end('good');
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/sie' });
    clk.advance(2000);
    failing = true;
    const on5xx = await send(c.port, { path: '/sie' });
    assert.equal(on5xx.status, 200);
    assert.equal(on5xx.headers['x-cache'], 'STALE');
    assert.equal(on5xx.body.toString(), 'good');

    c.balancer.setGroup('web', ready(['web-2', await refusedAddress()]));
    const onConnectError = await send(c.port, { path: '/sie' });
    assert.equal(onConnectError.headers['x-cache'], 'STALE');
    assert.equal(onConnectError.body.toString(), 'good');

    clk.advance(60_000);
    const past = await send(c.port, { path: '/sie' });
    assert.equal(past.status, 502);
    assert.equal(past.headers['x-cache'], 'MISS');
    assert.equal(await cacheCount(c.metrics, 'STALE'), 2);
  });

  test('without a window a failing backend gets through', async (t) => {
    const clk = clock();
    let failing = false;
    const c = await startCached(
      t,
      (_req, res) => {
        res.writeHead(failing ? 503 : 200, { Date: clk.date(), 'Cache-Control': 'max-age=1' });
        res.end(failing ? 'down' : 'up');
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/x' });
    clk.advance(2000);
    failing = true;
    assert.equal((await send(c.port, { path: '/x' })).status, 503);
  });
});
