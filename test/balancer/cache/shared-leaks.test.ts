// Second RFC 9111 audit of the HTTP response cache: ways one client's answer reached another
// (malformed Cache-Control and Vary lists read too leniently, a Vary header the backend never saw)
// and a 304 that dropped the client's own Set-Cookie; a converted HEAD that waited for the whole
// body. Each through a real balancer to a real backend.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { describe, test } from 'node:test';
import { sendRaw } from '../../helpers/raw-http.js';
import { until } from '../../helpers/until.js';
import { deferred, send } from '../helpers.js';
import { clock, metricValue, startCached } from './helpers.js';

/** personal answers each client with its own cookie under the given response headers. */
function personal(headers: http.OutgoingHttpHeaders): http.RequestListener {
  return (req, res) => {
    res.writeHead(200, headers);
    res.end(`for ${req.headers.cookie}`);
  };
}

describe('http cache: one client answer never reaches another', () => {
  // A missing comma: NGINX and Varnish find `private` anywhere in the header and store nothing.
  for (const cacheControl of [
    'private max-age=60',
    'max-age=60;private',
    'max-age=60 private',
    'public, max-age=60, "private"',
  ]) {
    test(`Cache-Control: ${cacheControl} is private`, async (t) => {
      const c = await startCached(t, personal({ 'Cache-Control': cacheControl }));
      const alice = await send(c.port, { path: '/me', headers: { Cookie: 'u=alice' } });
      assert.equal(alice.body.toString(), 'for u=alice');
      // max-stale: a response read as stored but already stale would be served too.
      const bob = await send(c.port, {
        path: '/me',
        headers: { Cookie: 'u=bob', 'Cache-Control': 'max-stale' },
      });
      assert.equal(bob.body.toString(), 'for u=bob', `bob got ${bob.headers['x-cache']} of alice's page`);
      assert.equal(c.backend.requests, 2);
    });
  }

  test('Vary names split by whitespace are each a header of the variant key', async (t) => {
    const c = await startCached(
      t,
      personal({ 'Cache-Control': 'max-age=60', Vary: 'Accept-Encoding Cookie' }),
    );
    const alice = await send(c.port, { path: '/me', headers: { Cookie: 'u=alice' } });
    assert.equal(alice.body.toString(), 'for u=alice');
    const bob = await send(c.port, { path: '/me', headers: { Cookie: 'u=bob' } });
    assert.equal(bob.body.toString(), 'for u=bob', `bob got ${bob.headers['x-cache']} of alice's page`);
    // Still stored, per cookie.
    const again = await send(c.port, { path: '/me', headers: { Cookie: 'u=alice' } });
    assert.equal(again.headers['x-cache'], 'HIT');
    assert.equal(again.body.toString(), 'for u=alice');
  });

  test('a Vary list with something not a header name is Vary: *', async (t) => {
    const c = await startCached(t, personal({ 'Cache-Control': 'max-age=60', Vary: 'Cookie;Accept' }));
    await send(c.port, { path: '/me', headers: { Cookie: 'u=alice' } });
    const bob = await send(c.port, { path: '/me', headers: { Cookie: 'u=bob' } });
    assert.equal(bob.body.toString(), 'for u=bob', `bob got ${bob.headers['x-cache']} of alice's page`);
    assert.equal(c.backend.requests, 2);
  });

  test('a Vary header the client had the balancer drop (Connection) stores no variant', async (t) => {
    const c = await startCached(t, (req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60', Vary: 'Accept-Language' });
      res.end(req.headers['accept-language'] === 'fr' ? 'bonjour' : 'hello');
    });
    // Accept-Language named as hop-by-hop: the backend gets none and answers its default.
    const attacker = await sendRaw(
      c.port,
      'GET /home HTTP/1.1\r\nHost: shop\r\nAccept-Language: fr\r\nConnection: close, Accept-Language\r\n\r\n',
      { keepOpen: true },
    );
    assert.equal(attacker.status, 200);
    assert.match(attacker.text, /hello/);
    const reader = await send(c.port, { path: '/home', headers: { Host: 'shop', 'Accept-Language': 'fr' } });
    assert.equal(reader.body.toString(), 'bonjour', `a French reader got ${reader.headers['x-cache']} hello`);
    const next = await send(c.port, { path: '/home', headers: { Host: 'shop', 'Accept-Language': 'fr' } });
    assert.equal(next.headers['x-cache'], 'HIT');
    assert.equal(next.body.toString(), 'bonjour');
  });

  test("a Vary on X-Forwarded-Host or -Proto (set from the key's Host and scheme) is stored", async (t) => {
    const c = await startCached(t, (req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60', Vary: 'X-Forwarded-Host, X-Forwarded-Proto' });
      res.end(`${req.headers['x-forwarded-proto']}://${req.headers['x-forwarded-host']}/`);
    });
    const first = await send(c.port, { path: '/links', headers: { Host: 'shop' } });
    assert.equal(first.body.toString(), 'http://shop/');
    const second = await send(c.port, { path: '/links', headers: { Host: 'shop' } });
    assert.equal(second.headers['x-cache'], 'HIT');
    const other = await send(c.port, { path: '/links', headers: { Host: 'other' } });
    assert.equal(other.body.toString(), 'http://other/');
  });
});

describe('http cache: what a client claims about the origin', () => {
  // Each reaches a framework that builds redirects and links from it; a fill's answer is everyone's.
  for (const [name, value] of <[string, string][]>[
    ['Forwarded', 'for=192.0.2.1;host=evil.example;proto=http'],
    ['X-Forwarded-Port', '6666'],
    ['X-Forwarded-Prefix', '/evil'],
    ['X-Forwarded-Server', 'evil.example'],
    ['X-Forwarded-Scheme', 'http'],
    ['X-Forwarded-Ssl', 'off'],
    ['X-Host', 'evil.example'],
    ['X-Original-URL', '/evil'],
    ['X-Rewrite-URL', '/evil'],
    ['X-HTTP-Method-Override', 'DELETE'],
    ['X-HTTP-Method', 'DELETE'],
    ['X-Method-Override', 'DELETE'],
  ]) {
    test(`${name} does not reach a fill whose answer is stored for everyone`, async (t) => {
      const c = await startCached(t, (req, res) => {
        const claimed = req.headers[name.toLowerCase()];
        res.writeHead(301, {
          'Cache-Control': 'max-age=60',
          Location: claimed === undefined ? 'https://shop/login' : `https://evil.example/${claimed}`,
        });
        res.end();
      });
      await send(c.port, { path: '/account', headers: { Host: 'shop', [name]: value } });
      const victim = await send(c.port, { path: '/account', headers: { Host: 'shop' } });
      assert.equal(victim.headers.location, 'https://shop/login', `${victim.headers['x-cache']}`);
    });
  }
});

describe('http cache: a GET with a body', () => {
  test('is passed through with its body, never answered from or stored for another body', async (t) => {
    const c = await startCached(t, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.writeHead(200, { 'Cache-Control': 'max-age=60' });
        res.end(`hits for ${Buffer.concat(chunks).toString() || 'everything'}`);
      });
    });
    // node:http frames a GET's body only with an explicit Content-Length.
    const search = (body: string) =>
      send(c.port, { path: '/_search', headers: { 'Content-Length': Buffer.byteLength(body) }, body });
    const alice = await search('{"user":"alice"}');
    assert.equal(alice.body.toString(), 'hits for {"user":"alice"}');
    assert.equal(alice.headers['x-cache'], 'BYPASS');
    const bob = await search('{"user":"bob"}');
    assert.equal(bob.body.toString(), 'hits for {"user":"bob"}', `bob got ${bob.headers['x-cache']}`);
    // Without a body the URL is cached as usual.
    await send(c.port, { path: '/_search' });
    assert.equal((await send(c.port, { path: '/_search' })).headers['x-cache'], 'HIT');
  });
});

describe('http cache: stale-if-error', () => {
  // `public, no-cache`: stored, but every use asks the backend, which authorises each client.
  for (const [name, cacheControl, cache] of [
    ['the config window', 'public, no-cache', { staleIfError: 60_000 }],
    ["the response's own window", 'public, no-cache, stale-if-error=60', {}],
  ] as const) {
    test(`never serves a no-cache response for a failing backend (${name})`, async (t) => {
      const clk = clock();
      let failing = false;
      const c = await startCached(
        t,
        (req, res) => {
          if (failing) {
            res.writeHead(503, { Date: clk.date() });
            res.end('down');
          } else if (req.headers.authorization !== 'Bearer alice') {
            res.writeHead(401, { Date: clk.date() });
            res.end('who are you');
          } else if (req.headers['if-none-match'] === '"s1"') {
            res.writeHead(304, { Date: clk.date(), ETag: '"s1"' });
            res.end();
          } else {
            res.writeHead(200, { Date: clk.date(), 'Cache-Control': cacheControl, ETag: '"s1"' });
            res.end('salaries');
          }
        },
        cache,
        { clock: clk },
      );
      const alice = await send(c.port, { path: '/hr', headers: { Authorization: 'Bearer alice' } });
      assert.equal(alice.body.toString(), 'salaries');
      const again = await send(c.port, { path: '/hr', headers: { Authorization: 'Bearer alice' } });
      assert.equal(again.headers['x-cache'], 'REVALIDATED');
      const stranger = await send(c.port, { path: '/hr' });
      assert.equal(stranger.status, 401);
      failing = true;
      const during = await send(c.port, { path: '/hr' });
      assert.equal(during.status, 503, `a stranger got ${during.headers['x-cache']} ${during.body}`);
      assert.equal(during.body.toString(), 'down');
    });
  }
});

describe('http cache: coalescing', () => {
  // The backend authorises every request to a `public, no-cache` document and holds alice's until
  // a stranger's waits on it: the stranger must be asked about, not handed alice's answer.
  for (const revalidation of [false, true]) {
    test(`a waiter on ${revalidation ? 'a revalidation' : 'a fill'} of a no-cache response is not served its result`, async (t) => {
      const clk = clock();
      let hold = false;
      const c = await startCached(
        t,
        async (req, res) => {
          if (req.headers.authorization !== 'Bearer alice') {
            res.writeHead(401, { Date: clk.date() });
            res.end('who are you');
            return;
          }
          if (hold)
            await until(
              async () => (await metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total')) >= 1,
            );
          const headers = { Date: clk.date(), 'Cache-Control': 'public, no-cache', ETag: '"s1"' };
          if (req.headers['if-none-match'] === '"s1"') {
            res.writeHead(304, headers);
            res.end();
          } else {
            res.writeHead(200, headers);
            res.end('salaries');
          }
        },
        {},
        { clock: clk },
      );
      if (revalidation) await send(c.port, { path: '/hr', headers: { Authorization: 'Bearer alice' } });
      hold = true;
      const alice = send(c.port, { path: '/hr', headers: { Authorization: 'Bearer alice' } });
      await until(() => c.backend.requests === (revalidation ? 2 : 1));
      const stranger = await send(c.port, { path: '/hr' });
      assert.equal((await alice).body.toString(), 'salaries');
      assert.equal(stranger.status, 401, `a stranger got ${stranger.headers['x-cache']} ${stranger.body}`);
    });
  }
});

describe('http cache: a 304 from the cache', () => {
  test("made from a miss keeps the backend's Set-Cookie for this client", async (t) => {
    const c = await startCached(t, (_req, res) => {
      res.writeHead(200, { 'Cache-Control': 'private', ETag: '"v1"', 'Set-Cookie': 'sid=rotated' });
      res.end('page');
    });
    const reply = await send(c.port, { path: '/account', headers: { 'If-None-Match': '"v1"' } });
    assert.equal(reply.status, 304);
    assert.equal(reply.headers['x-cache'], 'MISS');
    assert.deepEqual(reply.headers['set-cookie'], ['sid=rotated']);
    assert.equal(reply.headers.etag, '"v1"');
  });
});

describe('http cache: a HEAD filled with a GET (convert_head)', () => {
  // The backend sends its head and part of the body, then holds the rest until the HEAD is
  // answered. Without the fix the HEAD waited for that rest: request_timeout (3 s here) cut it.
  for (const [name, headers, storable] of [
    ['stored, with a Content-Length', { 'Cache-Control': 'max-age=60', 'Content-Length': '10' }, true],
    ['not stored (private), chunked', { 'Cache-Control': 'private' }, false],
    ['to be stored, chunked, past max_object_size', { 'Cache-Control': 'max-age=60' }, false],
  ] as const) {
    test(`${name}: answered once the backend's head is in`, async (t) => {
      const answered = deferred();
      const c = await startCached(
        t,
        (_req, res) => {
          res.writeHead(200, headers);
          res.write('01234');
          answered.promise.then(() => res.end('56789'));
        },
        { maxObjectSize: 4 + Number(storable) * 100 },
        { balancer: { requestTimeout: 3000 } },
      );
      t.after(() => answered.resolve());
      const head = await send(c.port, { method: 'HEAD', path: '/big' });
      answered.resolve();
      assert.equal(head.status, 200);
      assert.equal(head.headers['x-cache'], 'MISS');
      assert.equal(head.body.length, 0);
      if ('Content-Length' in headers) assert.equal(head.headers['content-length'], '10');
      const get = await send(c.port, { path: '/big' });
      assert.equal(get.body.toString(), '0123456789');
      assert.equal(get.headers['x-cache'], storable ? 'HIT' : 'MISS');
    });
  }

  test('a chunked response to be stored answers the HEAD with the length of its body', async (t) => {
    const c = await startCached(t, (_req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.write('01234');
      res.end('56789');
    });
    const head = await send(c.port, { method: 'HEAD', path: '/small' });
    assert.equal(head.headers['content-length'], '10');
    const get = await send(c.port, { path: '/small' });
    assert.equal(get.headers['x-cache'], 'HIT');
  });
});
