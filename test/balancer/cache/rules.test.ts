// One test per RFC 9111 rule the HTTP response cache follows, each through a real balancer to a
// real HTTP backend, on a settable wall clock so that expiry needs no waiting.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { describe, test } from 'node:test';
import { until } from '../../helpers/until.js';
import { send } from '../helpers.js';
import { cacheCount, clock, startCached } from './helpers.js';

type Headers = Record<string, string | string[]>;

/** respond builds a handler answering `body` with `headers` and a Date from `clk`. */
function respond(
  clk: { date(): string },
  headers: Headers,
  body = 'hello',
  status = 200,
): http.RequestListener {
  return (_req, res) => {
    res.writeHead(status, { Date: clk.date(), 'Content-Type': 'text/plain', ...headers });
    res.end(body);
  };
}

describe('http cache: Cache-Control rules', () => {
  test('max-age: the second request is a HIT with an Age header; the backend sees one request', async (t) => {
    const clk = clock();
    const c = await startCached(t, respond(clk, { 'Cache-Control': 'max-age=60' }), {}, { clock: clk });
    const first = await send(c.port, { path: '/a' });
    assert.equal(first.headers['x-cache'], 'MISS');
    clk.advance(5000);
    const second = await send(c.port, { path: '/a' });
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(second.headers.age, '5');
    assert.equal(second.body.toString(), 'hello');
    assert.equal(c.backend.requests, 1);
    assert.equal(await cacheCount(c.metrics, 'HIT'), 1);
    assert.equal(await cacheCount(c.metrics, 'MISS'), 1);
  });

  test('max-age: past it the response is fetched again', async (t) => {
    const clk = clock();
    const c = await startCached(t, respond(clk, { 'Cache-Control': 'max-age=10' }), {}, { clock: clk });
    await send(c.port, { path: '/a' });
    clk.advance(9000);
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'HIT');
    clk.advance(2000);
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'MISS');
    assert.equal(c.backend.requests, 2);
  });

  test('an Age from upstream counts against max-age', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      respond(clk, { 'Cache-Control': 'max-age=10', Age: '8' }),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(1000);
    const hit = await send(c.port, { path: '/a' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers.age, '9');
    clk.advance(1500);
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'MISS');
  });

  test('s-maxage takes precedence over max-age in this shared cache (both ways)', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        const cc = req.url === '/longer' ? 'max-age=0, s-maxage=60' : 'max-age=60, s-maxage=0';
        respond(clk, { 'Cache-Control': cc })(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/longer' });
    assert.equal((await send(c.port, { path: '/longer' })).headers['x-cache'], 'HIT');
    await send(c.port, { path: '/shorter' });
    assert.equal((await send(c.port, { path: '/shorter' })).headers['x-cache'], 'MISS');
    assert.equal(c.backend.requests, 3);
  });

  test('no-store in the response: never stored', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      respond(clk, { 'Cache-Control': 'no-store, max-age=60' }),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'MISS');
    assert.equal(c.backend.requests, 2);
  });

  test('no-store in the request: the response to it is not stored', async (t) => {
    const clk = clock();
    const c = await startCached(t, respond(clk, { 'Cache-Control': 'max-age=60' }), {}, { clock: clk });
    await send(c.port, { path: '/a', headers: { 'Cache-Control': 'no-store' } });
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'MISS');
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'HIT');
    assert.equal(c.backend.requests, 2);
  });

  test('private: not stored by a shared cache', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      respond(clk, { 'Cache-Control': 'private, max-age=60' }),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'MISS');
    assert.equal(c.backend.requests, 2);
  });

  test('no-cache in the response: stored, but revalidated with If-None-Match before every use', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { Date: clk.date(), ETag: '"v1"', 'Cache-Control': 'no-cache' });
          res.end();
        } else respond(clk, { 'Cache-Control': 'no-cache', ETag: '"v1"' })(req, res);
      },
      {},
      { clock: clk },
    );
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'MISS');
    const second = await send(c.port, { path: '/a' });
    assert.equal(second.headers['x-cache'], 'REVALIDATED');
    assert.equal(second.status, 200);
    assert.equal(second.body.toString(), 'hello');
    assert.equal(c.seen[1]!['if-none-match'], '"v1"');
    assert.equal(c.backend.requests, 2);
  });

  test('no-cache in the request (and Pragma: no-cache): a fresh response is revalidated first', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { Date: clk.date(), ETag: '"v1"', 'Cache-Control': 'max-age=60' });
          res.end();
        } else respond(clk, { 'Cache-Control': 'max-age=60', ETag: '"v1"' })(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    const revalidated = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'no-cache' } });
    assert.equal(revalidated.headers['x-cache'], 'REVALIDATED');
    const pragma = await send(c.port, { path: '/a', headers: { Pragma: 'no-cache' } });
    assert.equal(pragma.headers['x-cache'], 'REVALIDATED');
    assert.equal(c.backend.requests, 3);
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'HIT');
  });

  test('max-age in the request: an older stored response is revalidated', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      respond(clk, { 'Cache-Control': 'max-age=60', 'Last-Modified': 'Mon, 02 Nov 2026 10:00:00 GMT' }),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(10_000);
    assert.equal(
      (await send(c.port, { path: '/a', headers: { 'Cache-Control': 'max-age=20' } })).headers['x-cache'],
      'HIT',
    );
    const old = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'max-age=5' } });
    // The backend ignores If-Modified-Since here and sends the whole body: a MISS that is stored anew.
    assert.equal(old.headers['x-cache'], 'MISS');
    assert.equal(c.seen[1]!['if-modified-since'], 'Mon, 02 Nov 2026 10:00:00 GMT');
    assert.equal(c.backend.requests, 2);
  });

  test('min-fresh in the request: a response fresh for less than that long is revalidated', async (t) => {
    const clk = clock();
    const c = await startCached(t, respond(clk, { 'Cache-Control': 'max-age=60' }), {}, { clock: clk });
    await send(c.port, { path: '/a' });
    clk.advance(40_000); // 20 s of freshness left
    const enough = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'min-fresh=15' } });
    assert.equal(enough.headers['x-cache'], 'HIT');
    const tooLittle = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'min-fresh=25' } });
    assert.equal(tooLittle.headers['x-cache'], 'MISS');
    assert.equal(c.backend.requests, 2);
  });

  test('max-stale in the request: a stale response within it is served (and refreshed in the background)', async (t) => {
    const clk = clock();
    let version = 0;
    const c = await startCached(
      t,
      (req, res) => respond(clk, { 'Cache-Control': 'max-age=10' }, `v${++version}`)(req, res),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(25_000); // 15 s stale
    const tooStale = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'max-stale=5' } });
    assert.equal(tooStale.headers['x-cache'], 'MISS');
    assert.equal(tooStale.body.toString(), 'v2');
    clk.advance(25_000);
    const accepted = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'max-stale=20' } });
    assert.equal(accepted.headers['x-cache'], 'STALE');
    assert.equal(accepted.body.toString(), 'v2');
    await until(() => c.backend.requests === 3); // the background refresh
    clk.advance(1000);
    const anyStaleness = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'max-stale' } });
    assert.equal(anyStaleness.headers['x-cache'], 'HIT');
    assert.equal(anyStaleness.body.toString(), 'v3');
    clk.advance(50_000); // within keep_stale (1 min), which bounds how long a stale response stays stored
    const bare = await send(c.port, { path: '/a', headers: { 'Cache-Control': 'max-stale' } });
    assert.equal(bare.headers['x-cache'], 'STALE', 'a bare max-stale accepts any staleness');
  });

  test('max-stale does not override must-revalidate or s-maxage', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        const cc = req.url === '/must' ? 'max-age=10, must-revalidate' : 's-maxage=10';
        respond(clk, { 'Cache-Control': cc })(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/must' });
    await send(c.port, { path: '/shared' });
    clk.advance(15_000);
    for (const path of ['/must', '/shared'])
      assert.equal(
        (await send(c.port, { path, headers: { 'Cache-Control': 'max-stale=60' } })).headers['x-cache'],
        'MISS',
        path,
      );
    assert.equal(c.backend.requests, 4);
  });

  test('only-if-cached: served when a usable response is stored, else 504 without asking the backend', async (t) => {
    const clk = clock();
    const c = await startCached(t, respond(clk, { 'Cache-Control': 'max-age=10' }), {}, { clock: clk });
    const onlyCached = { 'Cache-Control': 'only-if-cached' };
    const cold = await send(c.port, { path: '/a', headers: onlyCached });
    assert.equal(cold.status, 504);
    assert.match(cold.body.toString(), /only-if-cached/);
    assert.equal(c.backend.requests, 0);
    await send(c.port, { path: '/a' });
    const warm = await send(c.port, { path: '/a', headers: onlyCached });
    assert.equal(warm.status, 200);
    assert.equal(warm.headers['x-cache'], 'HIT');
    clk.advance(20_000);
    assert.equal((await send(c.port, { path: '/a', headers: onlyCached })).status, 504, 'stale: not usable');
    const staleOk = await send(c.port, {
      path: '/a',
      headers: { 'Cache-Control': 'only-if-cached, max-stale' },
    });
    assert.equal(staleOk.status, 200);
    assert.equal(staleOk.headers['x-cache'], 'STALE');
    await until(() => c.backend.requests === 2); // one fill, then the background refresh of the stale serve
    assert.equal((await send(c.port, { path: '/a', headers: onlyCached })).headers['x-cache'], 'HIT');
    assert.equal(c.backend.requests, 2);
  });

  test('must-revalidate: a stale response is never served, not even when the backend fails', async (t) => {
    const clk = clock();
    let failing = false;
    const c = await startCached(
      t,
      (req, res) => {
        if (failing) {
          res.writeHead(503, { Date: clk.date() });
          res.end('down');
        } else respond(clk, { 'Cache-Control': 'max-age=1, must-revalidate, stale-if-error=600' })(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(2000);
    failing = true;
    const reply = await send(c.port, { path: '/a' });
    assert.equal(reply.status, 503);
    assert.equal(reply.body.toString(), 'down');
    assert.equal(reply.headers['x-cache'], 'MISS');
  });

  test('Expires is the fallback when there is no max-age (and an Expires in the past is stale)', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        const expires = new Date(clk.now + (req.url === '/future' ? 30_000 : -1000)).toUTCString();
        respond(clk, { Expires: expires })(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/future' });
    clk.advance(29_000);
    assert.equal((await send(c.port, { path: '/future' })).headers['x-cache'], 'HIT');
    clk.advance(2000);
    assert.equal((await send(c.port, { path: '/future' })).headers['x-cache'], 'MISS');
    await send(c.port, { path: '/past' });
    assert.equal((await send(c.port, { path: '/past' })).headers['x-cache'], 'MISS');
  });

  test('max-age wins over Expires', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      respond(clk, { 'Cache-Control': 'max-age=60', Expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'HIT');
  });

  test('Authorization: not stored unless the response says public (or s-maxage)', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        const cc =
          req.url === '/public' ? 'public, max-age=60' : req.url === '/shared' ? 's-maxage=60' : 'max-age=60';
        respond(clk, { 'Cache-Control': cc })(req, res);
      },
      {},
      { clock: clk },
    );
    const auth = { Authorization: 'Bearer secret-of-alice' };
    for (const path of ['/plain', '/public', '/shared']) {
      await send(c.port, { path, headers: auth });
      await send(c.port, { path, headers: auth });
    }
    assert.equal(
      c.seen.filter((h) => h.authorization !== undefined).length,
      4,
      'plain twice, public and shared once each',
    );
    assert.equal((await send(c.port, { path: '/public' })).headers['x-cache'], 'HIT');
  });

  test('Vary: one entry per value of the named request header; Vary: * is not stored', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        if (req.url === '/star') return respond(clk, { 'Cache-Control': 'max-age=60', Vary: '*' })(req, res);
        const lang = String(req.headers['accept-language'] ?? 'none');
        respond(clk, { 'Cache-Control': 'max-age=60', Vary: 'Accept-Language' }, `body-${lang}`)(req, res);
      },
      {},
      { clock: clk },
    );
    const en = { 'Accept-Language': 'en' };
    const fr = { 'Accept-Language': 'fr' };
    assert.equal((await send(c.port, { path: '/v', headers: en })).body.toString(), 'body-en');
    const frReply = await send(c.port, { path: '/v', headers: fr });
    assert.equal(frReply.headers['x-cache'], 'MISS');
    assert.equal(frReply.body.toString(), 'body-fr');
    const enAgain = await send(c.port, { path: '/v', headers: en });
    assert.equal(enAgain.headers['x-cache'], 'HIT');
    assert.equal(enAgain.body.toString(), 'body-en');
    assert.equal((await send(c.port, { path: '/v', headers: fr })).body.toString(), 'body-fr');
    assert.equal(c.backend.requests, 2);
    await send(c.port, { path: '/star' });
    assert.equal((await send(c.port, { path: '/star' })).headers['x-cache'], 'MISS');
    assert.equal(c.backend.requests, 4);
  });

  test('Vary: Accept-Encoding: one variant for the same codings however the client orders and cases them', async (t) => {
    // RFC 9111 4.1 lets a cache match values that differ only in order (where it means nothing)
    // and case (where the field is case-insensitive). Before, each of the three spellings below
    // was its own variant: three requests to the backend for one representation.
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        const codings = String(req.headers['accept-encoding'] ?? 'identity');
        respond(clk, { 'Cache-Control': 'max-age=60', Vary: 'Accept-Encoding' }, `for ${codings}`)(req, res);
      },
      {},
      { clock: clk },
    );
    const get = (codings: string) => send(c.port, { path: '/e', headers: { 'Accept-Encoding': codings } });
    assert.equal((await get('gzip, deflate')).headers['x-cache'], 'MISS');
    for (const same of ['deflate, gzip', 'GZIP,Deflate', 'deflate ,  gzip']) {
      const reply = await get(same);
      assert.equal(
        reply.headers['x-cache'],
        'HIT',
        `${JSON.stringify(same)} names the codings of "gzip, deflate"`,
      );
      assert.equal(reply.body.toString(), 'for gzip, deflate');
    }
    const other = await get('br, gzip');
    assert.equal(other.headers['x-cache'], 'MISS', 'other codings are another variant');
    assert.equal(other.body.toString(), 'for br, gzip');
    assert.equal((await get('gzip;q=0.5, br')).headers['x-cache'], 'MISS', 'a q weight changes the variant');
    assert.equal(c.backend.requests, 3, 'one backend request per set of codings');
  });

  test('ETag revalidation: a 304 from the backend refreshes the stored response', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, {
            Date: clk.date(),
            ETag: '"v1"',
            'Cache-Control': 'max-age=30',
            'X-Refreshed': 'yes',
          });
          res.end();
        } else respond(clk, { 'Cache-Control': 'max-age=10', ETag: '"v1"' }, 'original')(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(11_000);
    const revalidated = await send(c.port, { path: '/a' });
    assert.equal(revalidated.headers['x-cache'], 'REVALIDATED');
    assert.equal(revalidated.status, 200);
    assert.equal(revalidated.body.toString(), 'original');
    assert.equal(revalidated.headers['x-refreshed'], 'yes');
    assert.equal(c.seen[1]!['if-none-match'], '"v1"');
    // The 304 brought max-age=30: fresh for 30 s from now.
    clk.advance(25_000);
    const hit = await send(c.port, { path: '/a' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['cache-control'], 'max-age=30');
    assert.equal(c.backend.requests, 2);
  });

  test('a 304 with another strong ETag does not update the stored copy: the whole response is fetched', async (t) => {
    // RFC 9111 4.3.4: a 304 whose strong validator no stored response has must update nothing.
    // Before, the stored "v1" body came back REVALIDATED labelled ETag "v2", a HIT for 30 s.
    const clk = clock();
    let version = 1;
    const c = await startCached(
      t,
      (req, res) => {
        if (req.headers['if-none-match'] !== undefined) {
          version = 2;
          res.writeHead(304, { Date: clk.date(), ETag: '"v2"', 'Cache-Control': 'max-age=30' });
          res.end();
        } else
          respond(
            clk,
            { 'Cache-Control': 'max-age=10', ETag: `"v${version}"` },
            `body v${version}`,
          )(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(11_000);
    const reply = await send(c.port, { path: '/a' });
    assert.equal(reply.headers['x-cache'], 'MISS', 'the stored copy did not answer');
    assert.equal(reply.body.toString(), 'body v2');
    assert.equal(reply.headers.etag, '"v2"');
    assert.equal(c.backend.requests, 3, 'fill, conditional revalidation, unconditional refetch');
    assert.equal(c.seen[1]!['if-none-match'], '"v1"');
    assert.equal(c.seen[2]!['if-none-match'], undefined, 'the refetch is unconditional');
    const hit = await send(c.port, { path: '/a' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body.toString(), 'body v2', 'the refetched body is what is stored');
    assert.equal(hit.headers.etag, '"v2"');
  });

  test('a 304 without a Date refreshes the stored copy as of its arrival, not the old Date', async (t) => {
    // RFC 9110 6.6.1: a response without Date is dated when received. Before, the stored copy
    // kept its first Date, so right after the 304 it was already 11 s old for max-age=10: every
    // request went to the backend again (REVALIDATED), never a HIT.
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        if (req.headers['if-none-match'] === '"v1"') {
          res.sendDate = false;
          res.writeHead(304, { ETag: '"v1"', 'Cache-Control': 'max-age=10' });
          res.end();
        } else respond(clk, { 'Cache-Control': 'max-age=10', ETag: '"v1"' }, 'original')(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(11_000);
    const revalidated = await send(c.port, { path: '/a' });
    assert.equal(revalidated.headers['x-cache'], 'REVALIDATED');
    assert.equal(revalidated.headers.date, clk.date(), 'dated when the 304 arrived');
    clk.advance(5000);
    const hit = await send(c.port, { path: '/a' });
    assert.equal(hit.headers['x-cache'], 'HIT', 'fresh for 10 s from the 304');
    assert.equal(hit.headers.age, '5');
    assert.equal(c.backend.requests, 2);
  });

  test('Last-Modified revalidation sends If-Modified-Since', async (t) => {
    const clk = clock();
    const lastModified = 'Mon, 02 Nov 2026 10:00:00 GMT';
    const c = await startCached(
      t,
      (req, res) => {
        if (req.headers['if-modified-since'] === lastModified) {
          res.writeHead(304, { Date: clk.date(), 'Cache-Control': 'max-age=10' });
          res.end();
        } else respond(clk, { 'Cache-Control': 'max-age=10', 'Last-Modified': lastModified })(req, res);
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    clk.advance(11_000);
    assert.equal((await send(c.port, { path: '/a' })).headers['x-cache'], 'REVALIDATED');
    assert.equal(c.seen[1]!['if-modified-since'], lastModified);
  });

  test("a client's conditional request is answered 304 from the cache", async (t) => {
    const clk = clock();
    const lastModified = 'Mon, 02 Nov 2026 10:00:00 GMT';
    const c = await startCached(
      t,
      respond(clk, { 'Cache-Control': 'max-age=60', ETag: 'W/"v1"', 'Last-Modified': lastModified }),
      {},
      { clock: clk },
    );
    // The very first (a miss) already gets its 304: the cache fetched the whole response.
    const first = await send(c.port, { path: '/a', headers: { 'If-None-Match': '"v1"' } });
    assert.equal(first.status, 304);
    assert.equal(first.headers.etag, 'W/"v1"');
    assert.equal(c.seen[0]!['if-none-match'], undefined, 'the fill is unconditional');
    const inm = await send(c.port, { path: '/a', headers: { 'If-None-Match': '"v0", W/"v1"' } });
    assert.equal(inm.status, 304);
    assert.equal(inm.headers['x-cache'], 'HIT');
    assert.equal(inm.body.length, 0);
    const ims = await send(c.port, { path: '/a', headers: { 'If-Modified-Since': lastModified } });
    assert.equal(ims.status, 304);
    const changed = await send(c.port, { path: '/a', headers: { 'If-None-Match': '"v0"' } });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.toString(), 'hello');
    assert.equal(c.backend.requests, 1);
  });

  test('Set-Cookie responses are not stored', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      respond(clk, { 'Cache-Control': 'public, max-age=60', 'Set-Cookie': 'session=alice' }),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a' });
    const second = await send(c.port, { path: '/a' });
    assert.equal(second.headers['x-cache'], 'MISS');
    assert.equal(c.backend.requests, 2);
  });

  test('HEAD is answered from a stored GET; POST bypasses the cache', async (t) => {
    const clk = clock();
    const c = await startCached(t, respond(clk, { 'Cache-Control': 'max-age=60' }), {}, { clock: clk });
    await send(c.port, { path: '/a' });
    const head = await send(c.port, { method: 'HEAD', path: '/a' });
    assert.equal(head.headers['x-cache'], 'HIT');
    assert.equal(head.headers['content-length'], '5');
    assert.equal(head.body.length, 0);
    const post = await send(c.port, { method: 'POST', path: '/a', body: 'x' });
    assert.equal(post.headers['x-cache'], 'BYPASS');
    assert.equal(c.backend.requests, 2);
  });

  test('a HEAD miss is filled with a GET and stored (convert_head); off, it passes through as HEAD', async (t) => {
    for (const convertHead of [true, false]) {
      const clk = clock();
      const methods: string[] = [];
      const c = await startCached(
        t,
        (req, res) => {
          methods.push(req.method ?? '');
          respond(clk, { 'Cache-Control': 'max-age=60' })(req, res);
        },
        { convertHead },
        { clock: clk },
      );
      const head = await send(c.port, { method: 'HEAD', path: '/a' });
      assert.equal(head.headers['x-cache'], 'MISS');
      // Filled with a GET, the answer carries the body's length (this backend sends it chunked).
      if (convertHead) assert.equal(head.headers['content-length'], '5');
      assert.equal(head.body.length, 0, 'no body on a HEAD answer');
      const get = await send(c.port, { path: '/a' });
      assert.equal(get.body.toString(), 'hello');
      assert.deepEqual(methods, convertHead ? ['GET'] : ['HEAD', 'GET'], `convertHead ${convertHead}`);
      assert.equal(get.headers['x-cache'], convertHead ? 'HIT' : 'MISS');
    }
  });

  test('a successful POST, PUT or DELETE to a URL drops its stored response; a failed one does not', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) => {
        if (req.method === 'GET') return respond(clk, { 'Cache-Control': 'max-age=60' })(req, res);
        req.resume();
        res.writeHead(req.headers['x-fail'] ? 409 : 204, { Date: clk.date() });
        res.end();
      },
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/doc' });
    await send(c.port, { path: '/other' });
    await send(c.port, { method: 'PUT', path: '/doc', body: 'x', headers: { 'X-Fail': '1' } });
    assert.equal((await send(c.port, { path: '/doc' })).headers['x-cache'], 'HIT');
    for (const method of ['PUT', 'POST', 'DELETE']) {
      await send(c.port, { method, path: '/doc', ...(method === 'DELETE' ? {} : { body: 'x' }) });
      await until(async () => (await send(c.port, { path: '/doc' })).headers['x-cache'] === 'MISS');
    }
    assert.equal((await send(c.port, { path: '/other' })).headers['x-cache'], 'HIT');
  });

  test('no explicit freshness: not stored unless default_ttl is set (no heuristic freshness)', async (t) => {
    const clk = clock();
    const plain = await startCached(t, respond(clk, {}), {}, { clock: clk });
    await send(plain.port, { path: '/a' });
    assert.equal((await send(plain.port, { path: '/a' })).headers['x-cache'], 'MISS');
    const withTtl = await startCached(t, respond(clk, {}), { defaultTtl: 10_000 }, { clock: clk });
    await send(withTtl.port, { path: '/a' });
    assert.equal((await send(withTtl.port, { path: '/a' })).headers['x-cache'], 'HIT');
    clk.advance(10_001);
    assert.equal((await send(withTtl.port, { path: '/a' })).headers['x-cache'], 'MISS');
  });

  test('a body over max_object_size passes through whole and is not stored', async (t) => {
    const clk = clock();
    const big = 'x'.repeat(5000);
    const c = await startCached(
      t,
      (_req, res) => {
        // Chunked (no Content-Length), so the limit is only found while reading the body.
        res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
        res.write(big.slice(0, 2500));
        res.end(big.slice(2500));
      },
      { maxObjectSize: 4096 },
      { clock: clk },
    );
    assert.equal((await send(c.port, { path: '/big' })).body.toString(), big);
    const second = await send(c.port, { path: '/big' });
    assert.equal(second.headers['x-cache'], 'MISS');
    assert.equal(second.body.length, 5000);
  });

  test('the cache key includes the query and the host', async (t) => {
    const clk = clock();
    const c = await startCached(
      t,
      (req, res) =>
        respond(clk, { 'Cache-Control': 'max-age=60' }, `${req.headers.host}${req.url}`)(req, res),
      {},
      { clock: clk },
    );
    await send(c.port, { path: '/a?x=1' });
    assert.equal((await send(c.port, { path: '/a?x=2' })).body.toString().endsWith('/a?x=2'), true);
    await send(c.port, { path: '/a', headers: { Host: 'one.example' } });
    const other = await send(c.port, { path: '/a', headers: { Host: 'two.example' } });
    assert.equal(other.headers['x-cache'], 'MISS');
    assert.equal(other.body.toString(), 'two.example/a');
  });
});
