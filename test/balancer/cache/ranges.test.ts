// Range requests answered from stored whole responses (RFC 9110 14, as NGINX's proxy_cache does)
// and invalidation through Location/Content-Location (RFC 9111 4.4), each through a real balancer
// to a real HTTP backend, on both stores (Redis: the real one at 6379, a key prefix unique to the
// test).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { describe, type TestContext, test } from 'node:test';
import type { HttpCacheConfig } from '../../../src/config/types.js';
import { until } from '../../helpers/until.js';
import { send } from '../helpers.js';
import { type Cached, type Clock, clock, metricValue, startCached } from './helpers.js';

const BODY = '0123456789abcdefghij'; // 20 bytes

const STORAGES: { name: string; cache: () => Partial<HttpCacheConfig> }[] = [
  { name: 'memory', cache: () => ({}) },
  {
    name: 'redis',
    cache: () => ({
      storage: 'redis',
      redisUrl: 'redis://127.0.0.1:6379',
      keyPrefix: `test:http-range:${randomUUID()}:`,
    }),
  },
];

/** whole answers BODY with a Content-Length, max-age=60, an ETag and a Last-Modified an hour old. */
function whole(clk: Clock, headers: Record<string, string> = {}): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, {
      Date: clk.date(),
      'Last-Modified': new Date(clk.now - 3600_000).toUTCString(),
      'Cache-Control': 'max-age=60',
      'Content-Type': 'text/plain',
      'Content-Length': String(BODY.length),
      ETag: '"v1"',
      ...headers,
    });
    res.end(BODY);
  };
}

/** stored waits until the cache has stored `n` responses: a fill is stored after its client is answered. */
async function stored(c: Cached, n = 1): Promise<void> {
  await until(
    async () => (await metricValue(c.metrics, 'scaleplane_http_cache_stores_total')) >= n,
    10_000,
    `${n} responses stored`,
  );
}

for (const storage of STORAGES) {
  describe(`http cache ranges (${storage.name} storage)`, () => {
    async function start(t: TestContext, handler: http.RequestListener, clk: Clock): Promise<Cached> {
      return startCached(t, handler, storage.cache(), { clock: clk });
    }

    test('a stored 200 answers one range with a 206: first-last, first-, -suffix, last past the end', async (t) => {
      const clk = clock();
      const c = await start(t, whole(clk), clk);
      const full = await send(c.port, { path: '/f' });
      assert.equal(full.headers['x-cache'], 'MISS');
      await stored(c);
      clk.advance(3000);
      const cases: [string, string, string][] = [
        ['bytes=2-5', '2345', 'bytes 2-5/20'],
        ['bytes=15-', 'fghij', 'bytes 15-19/20'],
        ['bytes=-3', 'hij', 'bytes 17-19/20'],
        ['bytes=5-100', BODY.slice(5), 'bytes 5-19/20'],
        ['bytes=0-0', '0', 'bytes 0-0/20'],
      ];
      for (const [range, body, contentRange] of cases) {
        const reply = await send(c.port, { path: '/f', headers: { Range: range } });
        assert.equal(reply.status, 206, range);
        assert.equal(reply.body.toString(), body, range);
        assert.equal(reply.headers['content-range'], contentRange, range);
        assert.equal(reply.headers['content-length'], String(body.length), range);
        assert.equal(reply.headers['x-cache'], 'HIT', range);
        assert.equal(reply.headers.age, '3', range);
        assert.equal(reply.headers.etag, '"v1"', range);
        assert.equal(reply.headers['last-modified'], full.headers['last-modified'], range);
        assert.equal(reply.headers['cache-control'], 'max-age=60', range);
        assert.equal(reply.headers['content-type'], 'text/plain', range);
        assert.equal(reply.headers.date, full.headers.date, range);
      }
      assert.equal(c.backend.requests, 1);
    });

    test('a range past the end is a 416 with Content-Range: bytes */LEN; HEAD and odd ranges get it whole', async (t) => {
      const clk = clock();
      const c = await start(t, whole(clk), clk);
      await send(c.port, { path: '/f' });
      await stored(c);
      for (const range of ['bytes=20-', 'bytes=25-30', 'bytes=-0']) {
        const reply = await send(c.port, { path: '/f', headers: { Range: range } });
        assert.equal(reply.status, 416, range);
        assert.equal(reply.headers['content-range'], 'bytes */20', range);
        assert.equal(reply.headers['content-length'], '0', range);
        assert.equal(reply.body.length, 0, range);
        assert.equal(reply.headers['x-cache'], 'HIT', range);
        assert.equal(reply.headers['cache-control'], undefined, 'a 416 is not made storable downstream');
      }
      const head = await send(c.port, { method: 'HEAD', path: '/f', headers: { Range: 'bytes=0-1' } });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '20');
      assert.equal(head.headers['content-range'], undefined);
      // Another unit, a suffix longer than the body (RFC 9110 14.1.3: the whole body) and junk.
      for (const range of ['items=0-1', 'bytes=-50', 'bytes=x-y']) {
        const reply = await send(c.port, { path: '/f', headers: { Range: range } });
        assert.equal(reply.status, 200, range);
        assert.equal(reply.body.toString(), BODY, range);
        assert.equal(reply.headers['content-range'], undefined, range);
      }
      assert.equal(c.backend.requests, 1);
    });

    test('several ranges get the whole 200', async (t) => {
      const clk = clock();
      const c = await start(t, whole(clk), clk);
      await send(c.port, { path: '/f' });
      await stored(c);
      const reply = await send(c.port, { path: '/f', headers: { Range: 'bytes=0-1,5-6' } });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['x-cache'], 'HIT');
      assert.equal(reply.headers['content-length'], '20');
      assert.equal(reply.headers['content-range'], undefined);
      assert.equal(reply.body.toString(), BODY);
      assert.equal(c.backend.requests, 1);
    });

    test('If-Range: a strong ETag or the exact Last-Modified gets the range, anything else the whole 200', async (t) => {
      const clk = clock();
      const c = await start(t, whole(clk), clk);
      const full = await send(c.port, { path: '/f' });
      await stored(c);
      const lastModified = full.headers['last-modified']!;
      const cases: [string, number][] = [
        ['"v1"', 206],
        [lastModified, 206],
        ['"v0"', 200],
        ['W/"v1"', 200],
        [new Date(Date.parse(lastModified) + 1000).toUTCString(), 200],
      ];
      for (const [ifRange, status] of cases) {
        const reply = await send(c.port, {
          path: '/f',
          headers: { Range: 'bytes=0-3', 'If-Range': ifRange },
        });
        assert.equal(reply.status, status, ifRange);
        assert.equal(reply.body.toString(), status === 206 ? '0123' : BODY, ifRange);
        assert.equal(reply.headers['x-cache'], 'HIT', ifRange);
      }
      // If-Range without Range is ignored (RFC 9110 13.1.5), and no longer bypasses the cache.
      const alone = await send(c.port, { path: '/f', headers: { 'If-Range': '"v0"' } });
      assert.equal(alone.status, 200);
      assert.equal(alone.headers['x-cache'], 'HIT');
      assert.equal(c.backend.requests, 1);
    });

    test('a miss with Range fetches the whole response without Range, stores it and answers the range', async (t) => {
      const clk = clock();
      const c = await start(t, whole(clk), clk);
      const miss = await send(c.port, {
        path: '/f',
        headers: { Range: 'bytes=3-12', 'If-Range': '"v1"' },
      });
      assert.equal(miss.status, 206);
      assert.equal(miss.headers['x-cache'], 'MISS');
      assert.equal(miss.body.toString(), '3456789abc');
      assert.equal(miss.headers['content-range'], 'bytes 3-12/20');
      assert.equal(miss.headers['content-length'], '10');
      assert.equal(miss.headers.etag, '"v1"');
      assert.equal(c.backend.requests, 1);
      assert.equal(c.seen[0]!.range, undefined, 'the backend is asked for the whole response');
      assert.equal(c.seen[0]!['if-range'], undefined);
      await stored(c);
      const hit = await send(c.port, { path: '/f' });
      assert.equal(hit.status, 200);
      assert.equal(hit.headers['x-cache'], 'HIT');
      assert.equal(hit.body.toString(), BODY);
      assert.equal(c.backend.requests, 1);
    });

    test('a miss with Range on a large body: the client gets its bytes, the store the whole body', async (t) => {
      const clk = clock();
      const big = Buffer.alloc(300_000);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      const c = await start(
        t,
        (_req, res) => {
          res.writeHead(200, {
            Date: clk.date(),
            'Cache-Control': 'max-age=60',
            'Content-Length': String(big.length),
          });
          // Several writes, so the range is cut across chunks.
          for (let at = 0; at < big.length; at += 64 * 1024) res.write(big.subarray(at, at + 64 * 1024));
          res.end();
        },
        clk,
      );
      const miss = await send(c.port, { path: '/big', headers: { Range: 'bytes=65530-131080' } });
      assert.equal(miss.status, 206);
      assert.equal(miss.headers['content-range'], `bytes 65530-131080/${big.length}`);
      assert.ok(miss.body.equals(big.subarray(65530, 131081)), 'the range bytes');
      await stored(c);
      const tail = await send(c.port, { path: '/big', headers: { Range: 'bytes=-10' } });
      assert.equal(tail.headers['x-cache'], 'HIT');
      assert.ok(
        tail.body.equals(big.subarray(big.length - 10)),
        'tail.body.equals(big.subarray(big.length - 10))',
      );
      const all = await send(c.port, { path: '/big' });
      assert.ok(all.body.equals(big), 'the whole body was stored');
      assert.equal(c.backend.requests, 1);
    });

    test('a miss with Range on a body of unknown length (chunked) gets the whole 200, then ranges hit', async (t) => {
      const clk = clock();
      const c = await start(
        t,
        (_req, res) => {
          res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
          res.write(BODY.slice(0, 10));
          res.end(BODY.slice(10));
        },
        clk,
      );
      const miss = await send(c.port, { path: '/chunked', headers: { Range: 'bytes=0-3' } });
      assert.equal(miss.status, 200);
      assert.equal(miss.headers['x-cache'], 'MISS');
      assert.equal(miss.body.toString(), BODY);
      await stored(c);
      const hit = await send(c.port, { path: '/chunked', headers: { Range: 'bytes=0-3' } });
      assert.equal(hit.status, 206);
      assert.equal(hit.headers['x-cache'], 'HIT');
      assert.equal(hit.body.toString(), '0123');
      assert.equal(hit.headers['content-range'], 'bytes 0-3/20');
      assert.equal(c.backend.requests, 1);
    });

    test('a miss with an unsatisfiable Range is a 416, and the whole response is stored', async (t) => {
      const clk = clock();
      const c = await start(t, whole(clk), clk);
      const miss = await send(c.port, { path: '/f', headers: { Range: 'bytes=50-' } });
      assert.equal(miss.status, 416);
      assert.equal(miss.headers['content-range'], 'bytes */20');
      assert.equal(miss.headers['x-cache'], 'MISS');
      await stored(c);
      const hit = await send(c.port, { path: '/f' });
      assert.equal(hit.headers['x-cache'], 'HIT');
      assert.equal(hit.body.toString(), BODY);
      assert.equal(c.backend.requests, 1);
    });

    test('a 206 from the backend is passed on but never stored', async (t) => {
      const clk = clock();
      const c = await start(
        t,
        (_req, res) => {
          res.writeHead(206, {
            Date: clk.date(),
            'Cache-Control': 'max-age=60',
            'Content-Range': 'bytes 0-3/20',
            'Content-Length': '4',
          });
          res.end('0123');
        },
        clk,
      );
      for (const headers of [{}, { Range: 'bytes=0-3' }, {}]) {
        const reply = await send(c.port, { path: '/p', headers });
        assert.equal(reply.status, 206);
        assert.equal(reply.headers['x-cache'], 'MISS');
        assert.equal(reply.body.toString(), '0123');
      }
      assert.equal(c.backend.requests, 3);
      assert.equal(await metricValue(c.metrics, 'scaleplane_http_cache_stores_total'), 0);
    });
  });

  describe(`http cache invalidation by Location (${storage.name} storage)`, () => {
    /**
     * A backend: GETs are cacheable and echo their path; POST /dir/p answers 201 with `headers`.
     * Four paths are stored first, asked for with `Host: host` when given.
     */
    async function withPostAnswer(
      t: TestContext,
      headers: Record<string, string>,
      host?: string,
    ): Promise<Cached> {
      const clk = clock();
      const c = await startCached(
        t,
        (req, res) => {
          if (req.method === 'GET') {
            res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
            res.end(req.url);
            return;
          }
          req.resume();
          res.writeHead(201, { Date: clk.date(), ...headers });
          res.end();
        },
        storage.cache(),
        { clock: clk },
      );
      const asked = host === undefined ? {} : { headers: { Host: host } };
      for (const path of ['/dir/p', '/x', '/dir/y', '/other']) await send(c.port, { path, ...asked });
      await stored(c, 4);
      return c;
    }

    async function invalidated(c: Cached, n: number): Promise<void> {
      await until(
        async () => (await metricValue(c.metrics, 'scaleplane_http_cache_invalidated_total')) >= n,
        10_000,
        `${n} keys invalidated`,
      );
    }

    test('a POST answered with Location and Content-Location drops those URLs too', async (t) => {
      const c = await withPostAnswer(t, { Location: '/x', 'Content-Location': 'y' });
      const post = await send(c.port, { method: 'POST', path: '/dir/p', body: 'new' });
      assert.equal(post.status, 201);
      assert.equal(post.headers.location, '/x');
      // The target, Location (/x) and Content-Location (y, resolved against /dir/p: /dir/y).
      await invalidated(c, 3);
      const before = c.backend.requests;
      for (const path of ['/dir/p', '/x', '/dir/y']) {
        const reply = await send(c.port, { path });
        assert.equal(reply.headers['x-cache'], 'MISS', path);
        assert.equal(reply.body.toString(), path);
      }
      assert.equal(c.backend.requests, before + 3, 'each went to the backend');
      assert.equal((await send(c.port, { path: '/other' })).headers['x-cache'], 'HIT');
      assert.equal(await metricValue(c.metrics, 'scaleplane_http_cache_invalidated_total'), 3);
    });

    test('on a host with its own port (shop:6666), Location and Content-Location are dropped too', async (t) => {
      const host = { Host: 'shop:6666' };
      const c = await withPostAnswer(
        t,
        { Location: 'http://shop:6666/x', 'Content-Location': 'y' },
        'shop:6666',
      );
      assert.equal((await send(c.port, { path: '/x', headers: host })).headers['x-cache'], 'HIT');
      const post = await send(c.port, { method: 'POST', path: '/dir/p', headers: host, body: 'new' });
      assert.equal(post.status, 201);
      await invalidated(c, 3);
      for (const path of ['/dir/p', '/x', '/dir/y'])
        assert.equal((await send(c.port, { path, headers: host })).headers['x-cache'], 'MISS', path);
      assert.equal((await send(c.port, { path: '/other', headers: host })).headers['x-cache'], 'HIT');
      assert.equal(await metricValue(c.metrics, 'scaleplane_http_cache_invalidated_total'), 3);
    });

    test("Location and Content-Location with ' and { drop the paths as clients send them", async (t) => {
      // Keys hold the request target as sent (curl sends ' and { raw). Before, the locations went
      // through URL's serialisation (`/items/%7Bid%7D`, `?name=%27x%27`) and dropped nothing.
      const c = await withPostAnswer(t, {
        Location: '/items/{id}',
        'Content-Location': "http://127.0.0.1/q?name='x'",
      });
      for (const path of ['/items/{id}', "/q?name='x'"]) await send(c.port, { path });
      await stored(c, 6);
      for (const path of ['/items/{id}', "/q?name='x'"])
        assert.equal((await send(c.port, { path })).headers['x-cache'], 'HIT', `${path} stored first`);
      await send(c.port, { method: 'POST', path: '/dir/p', body: 'new' });
      await invalidated(c, 3);
      for (const path of ['/items/{id}', "/q?name='x'", '/dir/p'])
        assert.equal((await send(c.port, { path })).headers['x-cache'], 'MISS', `${path} after the POST`);
      assert.equal((await send(c.port, { path: '/other' })).headers['x-cache'], 'HIT', '/other stays');
      assert.equal(await metricValue(c.metrics, 'scaleplane_http_cache_invalidated_total'), 3);
    });

    test('Location and Content-Location on another host drop nothing of this one', async (t) => {
      const c = await withPostAnswer(t, {
        Location: 'http://other.example/x',
        'Content-Location': '//other.example/dir/y',
      });
      await send(c.port, { method: 'POST', path: '/dir/p', body: 'new' });
      // The POST's own target goes in the same store call that would take the others.
      await invalidated(c, 1);
      assert.equal((await send(c.port, { path: '/dir/p' })).headers['x-cache'], 'MISS');
      for (const path of ['/x', '/dir/y', '/other'])
        assert.equal((await send(c.port, { path })).headers['x-cache'], 'HIT', path);
      assert.equal(await metricValue(c.metrics, 'scaleplane_http_cache_invalidated_total'), 1);
    });
  });
}
