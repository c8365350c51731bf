// Downstream HTTP/2: with `tls`, the balancer offers h2 and http/1.1 by ALPN on one port and forwards
// over HTTP/1.1. Real node:http2 clients and node:http backends on 127.0.0.1, a certificate openssl
// makes for the test.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, readFile } from 'node:fs/promises';
import type http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { after, before, describe, test } from 'node:test';
import type tls from 'node:tls';
import { connect as tlsConnect } from 'node:tls';
import { Http2Edge } from '../../src/balancer/http2.js';
import { Balancer, type Ejection } from '../../src/balancer/index.js';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import type { BalancerConfig } from '../../src/config/types.js';
import { createMetrics, type ScaleplaneMetrics } from '../../src/metrics/index.js';
import { makeCertificate, preHandshakeOutcome, type TestCertificate } from '../helpers/tls.js';
import { until } from '../helpers/until.js';
import { cacheConfig, cacheCount } from './cache/helpers.js';
import {
  config,
  counter,
  deferred,
  ready,
  refusedAddress,
  startBackend,
  startHeldBackend,
} from './helpers.js';

let cert: TestCertificate;
before(async () => {
  cert = await makeCertificate();
});
after(() => cert.remove());

function tlsConfig(overrides: Partial<BalancerConfig> = {}): BalancerConfig {
  return config({ tls: { cert: cert.certPath, key: cert.keyPath }, ...overrides });
}

async function start(
  t: TestContext,
  cfg: BalancerConfig,
): Promise<{ balancer: Balancer; metrics: ScaleplaneMetrics; port: number }> {
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({ config: cfg, metrics });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  return { balancer, metrics, port };
}

/** connect opens one HTTP/2 connection (ALPN h2) trusting only the test certificate. */
async function connect(t: TestContext, port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.cert });
  session.on('error', () => {});
  t.after(() => session.destroy());
  await once(session, 'connect');
  assert.equal((session.socket as tls.TLSSocket).alpnProtocol, 'h2');
  return session;
}

interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** read waits for a stream's whole response. */
function read(stream: http2.ClientHttp2Stream): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    let headers: http2.IncomingHttpHeaders = {};
    let body = '';
    stream.on('response', (h) => {
      headers = h;
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => resolve({ status: Number(headers[':status']), headers, body }));
    stream.on('error', reject);
  });
}

function get(
  session: http2.ClientHttp2Session,
  path = '/',
  headers: http2.OutgoingHttpHeaders = {},
): Promise<H2Reply> {
  return read(session.request({ ':path': path, ...headers }));
}

test('h2: 60 concurrent streams on one connection, spread over the instances by round-robin', async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const backends = await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      startBackend(t, (req, res) => {
        seen.push(req.headers);
        res.setHeader('content-type', 'text/plain');
        res.end(`${name}${req.url}`);
      }),
    ),
  );
  const { balancer, port } = await start(t, tlsConfig({ algorithm: 'round-robin' }));
  balancer.setGroup('web', ready(...backends.map((b, i): [string, string] => [`web-${i}`, b.address])));
  const session = await connect(t, port);

  const replies = await Promise.all(
    Array.from({ length: 60 }, (_, i) => get(session, `/n${i}`, { cookie: ['a=1', 'b=2'] })),
  );
  assert.deepEqual(
    replies.map((r) => r.status),
    replies.map(() => 200),
  );
  for (const [i, r] of replies.entries()) assert.match(r.body, new RegExp(`^[abc]/n${i}$`));
  assert.deepEqual(
    backends.map((b) => b.requests),
    [20, 20, 20],
    'smooth round-robin over 3 equal instances',
  );
  // What the backends saw is an HTTP/1.1 request: Host from :authority, no pseudo-header, the
  // cookie fields joined into one, and the client's scheme.
  for (const headers of seen) {
    assert.equal(headers.host, `127.0.0.1:${port}`);
    assert.deepEqual(
      Object.keys(headers).filter((name) => name.startsWith(':')),
      [],
    );
    assert.equal(headers.cookie, 'a=1; b=2');
    assert.equal(headers['x-forwarded-proto'], 'https');
    assert.equal(headers['x-forwarded-host'], `127.0.0.1:${port}`);
    assert.equal(headers['transfer-encoding'], undefined, 'a GET without a body stays bodiless');
  }
  assert.equal(balancer.stats('web').requests, 60);
  await until(() => balancer.stats('web').inFlight === 0, 5_000, 'in-flight back to 0');
});

test('h2 and http/1.1 on the same port: ALPN picks, a client without ALPN gets HTTP/1.1', async (t) => {
  const backend = await startBackend(t, (req, res) =>
    res.end(`http/${req.httpVersion} ${req.headers['x-forwarded-proto']}`),
  );
  const { balancer, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));

  const session = await connect(t, port);
  assert.deepEqual(await get(session).then((r) => [r.status, r.body]), [200, 'http/1.1 https']);

  for (const alpn of [['http/1.1'], undefined]) {
    const reply = await new Promise<{ status: number; body: string; alpn: string | false | null }>(
      (resolve, reject) => {
        const options: https.RequestOptions & tls.ConnectionOptions = {
          host: '127.0.0.1',
          port,
          path: '/',
          ca: cert.cert,
          agent: false,
          ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
        };
        const req = https.request(options, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              body,
              alpn: (res.socket as tls.TLSSocket).alpnProtocol,
            }),
          );
        });
        req.on('error', reject);
        req.end();
      },
    );
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'http/1.1 https');
    assert.equal(reply.alpn, alpn === undefined ? false : 'http/1.1');
  }
  assert.equal(backend.requests, 3);
});

test('h2: connection-specific headers from the backend never reach the client, GET and POST', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        Connection: 'keep-alive, X-Hop',
        'Keep-Alive': 'timeout=5, max=100',
        'Proxy-Connection': 'keep-alive',
        Upgrade: 'h2c',
        'Transfer-Encoding': 'chunked',
        'X-Hop': 'named in Connection',
        'X-Kept': 'yes',
      });
      res.write('hel');
      res.end('lo');
    });
  });
  const { balancer, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);

  const getReply = await get(session);
  const post = session.request({ ':method': 'POST', ':path': '/' });
  post.end('body');
  for (const reply of [getReply, await read(post)]) {
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'hello');
    assert.equal(reply.headers['x-kept'], 'yes');
    for (const name of [
      'connection',
      'keep-alive',
      'proxy-connection',
      'upgrade',
      'transfer-encoding',
      'x-hop',
    ])
      assert.equal(reply.headers[name], undefined, name);
  }
  // The connection is still good for more streams.
  assert.equal((await get(session)).status, 200);
});

test('h2: every kind of response ends its stream: a body, one past the flow-control window (GET and POST), HEAD, 204, 304', async (t) => {
  // The last DATA frame carries END_STREAM (no trailers are waited for); a response that never
  // ended would leave its stream open and read() waiting. A 1 MiB body is 16× the client's
  // default window, so the response waits for 'drain' and the upstream body is paused and resumed.
  const big = Buffer.alloc(1024 * 1024, 'x');
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/big') res.writeHead(200, { 'Content-Length': big.length }).end(big);
      else if (req.url === '/none') res.writeHead(204).end();
      else if (req.url === '/same') res.writeHead(304, { ETag: '"1"' }).end();
      else res.writeHead(200, { 'Content-Length': 5 }).end('hello');
    });
  });
  const { balancer, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);

  const post = session.request({ ':method': 'POST', ':path': '/big' });
  post.end('body');
  const [small, getBig, postBig, head, none, same] = await Promise.all([
    get(session, '/small'),
    get(session, '/big'),
    read(post),
    get(session, '/small', { ':method': 'HEAD' }),
    get(session, '/none'),
    get(session, '/same'),
  ]);
  assert.deepEqual([small.status, small.body], [200, 'hello']);
  for (const reply of [getBig, postBig]) {
    assert.equal(reply.status, 200);
    assert.equal(reply.body, big.toString());
  }
  assert.deepEqual([head.status, head.body, head.headers['content-length']], [200, '', '5']);
  assert.deepEqual([none.status, none.body], [204, '']);
  assert.deepEqual([same.status, same.body, same.headers.etag], [304, '', '"1"']);
  assert.equal((await get(session)).status, 200);
});

test('h2: a response HTTP/2 cannot carry (two Content-Types) is a 502, the connection lives on', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/bad') res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Type', 'text/html']);
    else res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
    res.end('body');
  });
  const { balancer, metrics, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);
  const bad = await get(session, '/bad');
  assert.equal(bad.status, 502);
  assert.equal(bad.headers['content-type'], 'application/json');
  assert.equal(JSON.parse(bad.body).error, 'upstream error');
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'other' }), 1);
  const good = await get(session, '/good');
  assert.equal(good.status, 200);
  assert.deepEqual(good.headers['set-cookie'], ['a=1', 'b=2']);
});

test('h2: expect 100-continue: a body declared over max_request_body gets its 413 without a 100; one within it continues', {
  timeout: 20_000,
}, async (t) => {
  const backend = await startBackend(t, (req, res) => {
    let n = 0;
    req.on('data', (chunk: Buffer) => {
      n += chunk.length;
    });
    req.on('end', () => res.end(`got ${n}`));
  });
  const { balancer, port } = await start(t, tlsConfig({ maxRequestBody: 1000 }));
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);
  // The client sends its body only once told to continue (as curl does), and records whether it was.
  const post = (length: number) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/',
      'content-length': String(length),
      expect: '100-continue',
    });
    let continued = false;
    stream.on('continue', () => {
      continued = true;
      stream.end(Buffer.alloc(length));
    });
    return read(stream).then((reply) => ({ ...reply, continued }));
  };
  const over = await post(5000);
  assert.deepEqual([over.status, over.continued], [413, false], 'a 413, not a 100 first');
  const within = await post(10);
  assert.deepEqual([within.status, within.body, within.continued], [200, 'got 10', true]);
});

test('h2: limits hold: 413 on a declared or streamed body too large, 431 on headers too large', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const { balancer, port } = await start(t, tlsConfig({ maxRequestBody: 1000, maxHeaderSize: 4096 }));
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);
  const post = (headers: http2.OutgoingHttpHeaders) => {
    const stream = session.request({ ':method': 'POST', ':path': '/', ...headers });
    stream.end(Buffer.alloc(5000));
    return read(stream);
  };
  assert.equal((await post({ 'content-length': '5000' })).status, 413);
  assert.equal((await post({})).status, 413, 'no content-length: counted as it streams');
  // A client that knows the limit (from SETTINGS) does not send such headers at all; one that sends
  // them before it has the SETTINGS (the first request of a connection) gets 431.
  const early = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.cert });
  t.after(() => early.destroy());
  const big = await get(early, '/', { 'x-big': 'a'.repeat(8000) });
  assert.equal(big.status, 431);
  assert.match(big.body, /request header list of \d+ bytes is too large/);
  assert.equal(backend.requests, 0);
  assert.equal((await get(session)).status, 200);
  await until(() => balancer.stats('web').inFlight === 0, 5_000, 'nothing left in flight');
});

test('h2: a POST body streams to the backend and back, chunked upstream without a content-length', async (t) => {
  const firstChunk = deferred<string>();
  let seen: http.IncomingHttpHeaders = {};
  const backend = await startBackend(t, (req, res) => {
    seen = req.headers;
    res.writeHead(200, { 'content-type': 'text/plain' });
    req.on('data', (chunk: Buffer) => {
      firstChunk.resolve(chunk.toString());
      res.write(`echo:${chunk}`);
    });
    req.on('end', () => res.end());
  });
  const { balancer, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);

  const stream = session.request({ ':method': 'POST', ':path': '/upload' });
  const reply = read(stream);
  stream.write('one');
  // The backend has the first chunk while the client still holds the rest: nothing is buffered.
  assert.equal(await firstChunk.promise, 'one');
  stream.end('two');
  const { status, body } = await reply;
  assert.equal(status, 200);
  assert.match(body, /^echo:one(echo:)?two$/);
  assert.equal(seen['transfer-encoding'], 'chunked');
  assert.equal(seen['content-length'], undefined);
});

test('h2: a POST that fails upstream after its body started is never retried', async (t) => {
  // Every backend reads the first chunk and then drops the connection: a retry would show up as a
  // second request on one of them.
  const got = deferred();
  const reset = (req: http.IncomingMessage) => {
    req.once('data', () => {
      got.resolve();
      req.socket.destroy();
    });
  };
  const a = await startBackend(t, reset);
  const b = await startBackend(t, reset);
  const { balancer, metrics, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
  const session = await connect(t, port);

  const stream = session.request({ ':method': 'POST', ':path': '/pay', 'content-length': '8' });
  const reply = read(stream);
  stream.write('half');
  await got.promise;
  const { status } = await reply.finally(() => stream.close());
  assert.equal(status, 502);
  assert.equal(a.requests + b.requests, 1, 'one attempt only');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 0);
});

test('h2: a GET that cannot connect is retried on another instance, within the budget', async (t) => {
  const ok = await startBackend(t, (_req, res) => res.end('ok'));
  const { balancer, metrics, port } = await start(t, tlsConfig({ algorithm: 'round-robin' }));
  balancer.setGroup('web', ready(['dead', await refusedAddress()], ['ok', ok.address]));
  const session = await connect(t, port);
  const replies = await Promise.all([get(session), get(session), get(session), get(session)]);
  assert.deepEqual(
    replies.map((r) => `${r.status} ${r.body}`),
    ['200 ok', '200 ok', '200 ok', '200 ok'],
  );
  assert.equal(await counter(metrics.retries, { group: 'web' }), 2, 'the two picks of the dead one');
});

for (const method of ['GET', 'POST'] as const) {
  test(`h2: a client RST_STREAM aborts the upstream ${method} (the backend sees the close)`, async (t) => {
    const arrived = deferred();
    const closed = deferred();
    const backend = await startBackend(t, (req, res) => {
      if (req.url === '/other') {
        res.end('other');
        return;
      }
      // Never answers: the only way out is the client going away.
      res.on('close', () => closed.resolve());
      arrived.resolve();
      req.resume();
    });
    const { balancer, port } = await start(t, tlsConfig());
    balancer.setGroup('web', ready(['web-1', backend.address]));
    const session = await connect(t, port);

    const stream = session.request({ ':method': method, ':path': '/slow' });
    stream.on('error', () => {});
    if (method === 'POST') stream.write('partial body');
    await arrived.promise;
    assert.equal(balancer.stats('web').inFlight, 1);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await closed.promise;
    await until(() => balancer.stats('web').inFlight === 0, 5_000, 'the aborted request released');
    assert.equal(balancer.stats('web').backends[0]!.inFlight, 0);
    // The connection itself lives on.
    assert.equal((await get(session, '/other')).body, 'other');
  });
}

test('h2: the response cache serves an h2 request from the cache', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end('cached body');
  });
  const { balancer, metrics, port } = await start(t, tlsConfig({ cache: cacheConfig() }));
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);

  const miss = await get(session, '/page');
  assert.equal(miss.status, 200);
  assert.equal(miss.headers['x-cache'], 'MISS');
  const hit = await get(session, '/page');
  assert.equal(hit.status, 200);
  assert.equal(hit.body, 'cached body');
  assert.equal(hit.headers['x-cache'], 'HIT');
  assert.equal(backend.requests, 1);
  assert.equal(await cacheCount(metrics, 'HIT'), 1);
  // The key is the :authority's host: an HTTP/1.1 request with the same Host hits the same entry.
  const h1 = await new Promise<string | undefined>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/page', ca: cert.cert, agent: false }, (res) => {
        res.resume();
        resolve(res.headers['x-cache'] as string | undefined);
      })
      .on('error', reject);
  });
  assert.equal(h1, 'HIT');
  assert.equal(backend.requests, 1);
});

test('h2: close sends GOAWAY, the stream in flight completes, the balancer then closes', async (t) => {
  const { backend, arrived, release } = await startHeldBackend(t, 'finished');
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({ config: tlsConfig(), metrics });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const { port } = await balancer.listen();
  const session = await connect(t, port);

  const inFlight = get(session, '/long');
  await arrived;
  const goaway = once(session, 'goaway');
  let closed = false;
  const closing = balancer.close().then(() => {
    closed = true;
  });
  const [code] = (await goaway) as [number];
  assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
  assert.throws(() => session.request({ ':path': '/new' }), { code: 'ERR_HTTP2_GOAWAY_SESSION' });
  assert.equal(closed, false, 'close waits for the stream in flight');
  release();
  const reply = await inFlight;
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'finished');
  await closing;
});

test('h2: draining an instance waits for its streams in flight', async (t) => {
  const { backend, arrived, release } = await startHeldBackend(t, 'drained');
  const { balancer, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);
  const inFlight = get(session);
  await arrived;
  let drained = false;
  const draining = balancer.drain('web', 'web-1').then(() => {
    drained = true;
  });
  // New streams get no pick while it drains.
  assert.equal((await get(session)).status, 503);
  assert.equal(drained, false);
  release();
  assert.equal((await inFlight).body, 'drained');
  await draining;
});

test('h2: 5xx answers count towards outlier ejection as on HTTP/1.1', async (t) => {
  const bad = await startBackend(t, (_req, res) => {
    res.statusCode = 500;
    res.end();
  });
  const good = await startBackend(t, (_req, res) => res.end('good'));
  const { balancer, port } = await start(
    t,
    tlsConfig({
      algorithm: 'round-robin',
      outlier: {
        consecutive5xx: 2,
        consecutiveGatewayErrors: 0,
        baseEjectionTime: 60_000,
        maxEjectionTime: 60_000,
        maxEjectionPercent: 50,
        panicThreshold: 0,
      },
    }),
  );
  balancer.setGroup('web', ready(['bad', bad.address], ['good', good.address]));
  const ejected = once(balancer, 'ejection') as Promise<[Ejection]>;
  const session = await connect(t, port);
  for (let i = 0; i < 4; i++) await get(session);
  const [ejection] = await ejected;
  assert.equal(ejection.id, 'bad');
  assert.equal(ejection.reason, 'Consecutive5xx');
  const after = await Promise.all([get(session), get(session), get(session)]);
  assert.deepEqual(
    after.map((r) => r.body),
    ['good', 'good', 'good'],
  );
});

test('h2: CONNECT gets 405 (no RFC 8441 WebSocket), a Host contradicting :authority 400', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end());
  const { balancer, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);
  const tunnel = session.request(
    { ':method': 'CONNECT', ':authority': 'example.com:443' },
    { endStream: false },
  );
  const connectReply = await read(tunnel);
  tunnel.close();
  assert.equal(connectReply.status, 405);
  const mismatch = await get(session, '/', { ':authority': `127.0.0.1:${port}`, host: 'other.example' });
  assert.equal(mismatch.status, 400);
  assert.match(mismatch.body, /Host differs from :authority/);
  assert.equal(backend.requests, 0);
});

test('h2: a :path with dot segments reaches the backend resolved; one climbing above the root, or an :authority with userinfo, is 400', async (t) => {
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(req.url ?? '');
    res.end();
  });
  const { balancer, port } = await start(t, tlsConfig());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const session = await connect(t, port);
  const resolved = await get(session, '/public/%2e%2e/admin?x=..');
  assert.equal(resolved.status, 200, resolved.body);
  assert.deepEqual(seen, ['/admin?x=..'], 'the backend gets the path routing matched');
  const above = await get(session, '/../etc/passwd');
  assert.equal(above.status, 400, above.body);
  assert.match(above.body, /climbs above the root/);
  const userinfo = await get(session, '/', { ':authority': 'app.example:@evil.example' });
  assert.equal(userinfo.status, 400, userinfo.body);
  assert.match(userinfo.body, /is not a host\[:port\]/);
  assert.equal(seen.length, 1, 'a refused path or authority reached no backend');
});

test('http2: false keeps the TLS listener HTTP/1.1 only; http2: true without tls is a config error', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('h1'));
  const { balancer, port } = await start(t, tlsConfig({ http2: false }));
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const alpn = await new Promise<string | false | null>((resolve, reject) => {
    const options: https.RequestOptions & tls.ConnectionOptions = {
      host: '127.0.0.1',
      port,
      path: '/',
      ca: cert.cert,
      agent: false,
      ALPNProtocols: ['h2', 'http/1.1'],
    };
    const req = https.request(options, (res) => {
      res.resume();
      resolve((res.socket as tls.TLSSocket).alpnProtocol);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(alpn, 'http/1.1', 'h2 offered by the client, not taken');

  assert.throws(
    () =>
      parseConfig('balancer:\n  listen: 127.0.0.1:0\n  http2: true\ngroups:\n  web: { command: x }\n', {
        baseDir: '/',
      }),
    (err: unknown) => err instanceof ConfigError && /balancer\.http2 \(line 3\): needs tls/.test(err.message),
  );
  assert.throws(
    () =>
      new Balancer({ config: config({ http2: true }), metrics: createMetrics({ defaultMetrics: false }) }),
    { code: 'BALANCER_INVALID_ARGUMENT' },
  );
});

for (const http2 of [true, false]) {
  test(`a TLS client that sends no ClientHello, or plain HTTP, is closed (http2: ${http2})`, async (t) => {
    const warnings: { obj: object; msg: string | undefined }[] = [];
    const logger = {
      info() {},
      error() {},
      warn: (obj: object, msg?: string) => void warnings.push({ obj, msg }),
    };
    const metrics = createMetrics({ defaultMetrics: false });
    const cfg = tlsConfig({ http2, headersTimeout: 300 });
    const balancer = new Balancer({ config: cfg, metrics, logger });
    t.after(() => balancer.close());
    const { port } = await balancer.listen();
    // Before, both were held for good: the 'clientError' listener wrote an HTTP 408/400 into a TLS
    // session that never came to be, and never closed the socket (the silent one only after
    // node:tls's 120 s handshake timeout at that).
    const [silent, plain] = await Promise.all([
      preHandshakeOutcome(port, '', 15_000),
      preHandshakeOutcome(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 15_000),
    ]);
    assert.equal(
      silent,
      'closed',
      'a silent connection still open 15 s after connecting (headers_timeout 300 ms)',
    );
    assert.equal(plain, 'closed', 'a plain HTTP request to the TLS port still open 15 s after it was sent');
    assert.deepEqual(
      warnings.map((w) => [w.msg, (w.obj as { code?: string }).code]).sort(),
      [['balancer: TLS handshake failed or timed out, connection closed', 'ERR_TLS_HANDSHAKE_TIMEOUT']],
      'the silent client is logged (node:tls itself closes the one speaking plain HTTP, unheard)',
    );
  });
}

for (const http2 of [true, false]) {
  test(`50 failed TLS handshakes of one cause write one line, then one with the count (http2: ${http2})`, async (t) => {
    const warnings: { obj: { code?: string; suppressed?: number }; msg: string | undefined }[] = [];
    const logger = {
      info() {},
      error() {},
      warn: (obj: object, msg?: string) => void warnings.push({ obj, msg }),
    };
    const metrics = createMetrics({ defaultMetrics: false });
    // The clock stands still, so all 50 fall in the first throttle interval however slow the machine.
    const balancer = new Balancer({
      config: tlsConfig({ http2, headersTimeout: 200 }),
      metrics,
      logger,
      now: () => 0,
    });
    t.after(() => balancer.close());
    const { port } = await balancer.listen();
    // 50 clients that connect and never send a ClientHello (a scanner): each is closed at the
    // handshake timeout, each a failed handshake of the same cause.
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () => preHandshakeOutcome(port, '', 15_000)),
    );
    assert.deepEqual(new Set(outcomes), new Set(['closed']), 'every silent client is closed');
    const tlsLines = () =>
      warnings.filter((w) => w.msg?.startsWith('balancer: TLS handshake failed or timed out') === true);
    // Before, 50 lines: one per connection.
    assert.deepEqual(
      tlsLines().map((w) => [w.msg, w.obj.code]),
      [['balancer: TLS handshake failed or timed out, connection closed', 'ERR_TLS_HANDSHAKE_TIMEOUT']],
      'one line for the first failed handshake, none for the 49 after it within the interval',
    );
    await balancer.close();
    assert.deepEqual(
      tlsLines()
        .slice(1)
        .map((w) => [w.obj.code, w.obj.suppressed]),
      [['ERR_TLS_HANDSHAKE_TIMEOUT', 49]],
      'closing writes how many failed handshakes were left out of the log',
    );
  });
}

describe('h2 on cluster workers', () => {
  test('workers: 2 with tls serve h2, spread over the instances', async (t) => {
    const a = await startBackend(t, (_req, res) => res.end('a'));
    const b = await startBackend(t, (_req, res) => res.end('b'));
    const { balancer, port } = await start(t, tlsConfig({ workers: 2, algorithm: 'round-robin' }));
    balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
    // Membership reaches the workers over IPC: wait until one answers from a backend.
    await until(
      async () => {
        const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.cert });
        session.on('error', () => {});
        try {
          return (await get(session)).status === 200;
        } finally {
          session.destroy();
        }
      },
      20_000,
      'a worker serving',
    );
    const session = await connect(t, port);
    const bodies = await Promise.all(Array.from({ length: 10 }, () => get(session).then((r) => r.body)));
    assert.deepEqual([...new Set(bodies)].sort(), ['a', 'b']);
  });

  test('reloadTls: every worker presents a certificate renewed in place to new connections', async (t) => {
    const renewed = await makeCertificate();
    t.after(() => renewed.remove());
    // The files the config names, first holding the test certificate, then renewed in place.
    const files = { cert: join(renewed.dir, 'served.pem'), key: join(renewed.dir, 'served-key.pem') };
    await copyFile(cert.certPath, files.cert);
    await copyFile(cert.keyPath, files.key);
    const { balancer, port } = await start(t, config({ tls: files, workers: 2 }));
    const ca = [cert.cert, renewed.cert];
    const fingerprint = (pem: Buffer) => new X509Certificate(pem).fingerprint256;
    // A handful of connections in a row: node:cluster hands them to the workers in turn.
    const served = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['h2'] });
        try {
          await once(socket, 'secureConnect');
          seen.add(socket.getPeerCertificate().fingerprint256);
        } finally {
          socket.destroy();
        }
      }
      return [...seen];
    };
    assert.deepEqual(await served(), [fingerprint(cert.cert)]);
    assert.equal(balancer.reloadTls(), false, 'unchanged files: nothing to do');
    await copyFile(renewed.keyPath, files.key);
    await copyFile(renewed.certPath, files.cert);
    assert.equal(balancer.reloadTls(), true, 'the renewed pair is read');
    // The workers hear of it over IPC.
    await until(
      async () => (await served()).join() === fingerprint(renewed.cert),
      20_000,
      'every worker presenting the renewed certificate',
    );
  });
});

test('an HTTP/2 connection idle past the idle timeout gets a GOAWAY; a stream still open finishes', async (t) => {
  const release = deferred();
  const edge = new Http2Edge(
    {
      tls: { cert: cert.cert, key: await readFile(cert.keyPath) },
      maxHeaderSize: 16 * 1024,
      headersTimeout: 10_000,
      requestTimeout: 10_000,
      connectionsCheckingInterval: 1_000,
      idleTimeout: 100,
      logger: { info() {}, warn() {}, error() {} },
    },
    async (req, res) => {
      if (req.url === '/slow') await release.promise;
      res.end(req.url);
    },
  );
  edge.server.listen(0, '127.0.0.1');
  await once(edge.server, 'listening');
  t.after(() => {
    edge.closeAll();
    edge.server.close();
  });
  const port = (edge.server.address() as AddressInfo).port;

  const idle = await connect(t, port);
  assert.equal((await get(idle, '/one')).body, '/one');
  const [code] = (await once(idle, 'goaway')) as [number];
  assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
  await once(idle, 'close');

  const busy = await connect(t, port);
  const slow = get(busy, '/slow');
  await once(busy, 'goaway');
  release.resolve();
  assert.equal((await slow).body, '/slow');
});
