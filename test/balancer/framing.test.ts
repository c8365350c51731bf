// What reaches a backend for request shapes a smuggling or routing attack uses that Node's parser
// accepts (absolute-form targets, Expect, transfer codings, non-WebSocket upgrades), over raw TCP;
// safe retries against a backend that resets after reading the request; and draining while a
// client keeps its connection to the balancer open. The shapes Node's parser refuses are in
// hostile.test.ts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import type { RouteConfig } from '../../src/config/types.js';
import { createMetrics } from '../../src/metrics/index.js';
import { sendRaw } from '../helpers/raw-http.js';
import { cacheConfig } from './cache/helpers.js';
import { config, counter, ready, startBackend, startBalancer, type TestBackend } from './helpers.js';

/** recordingBackend answers 'ok' and records `METHOD url host=… [expect=…]` of each request a backend saw. */
async function recordingBackend(
  t: TestContext,
  name = 'ok',
): Promise<{ backend: TestBackend; seen: string[] }> {
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    const expect = req.headers.expect === undefined ? '' : ` expect=${req.headers.expect}`;
    seen.push(`${req.method} ${req.url} host=${req.headers.host}${expect}`);
    req.resume();
    req.on('end', () => res.end(name));
  });
  return { backend, seen };
}

test('absolute-form target: routed by, and sent upstream with, the host it names (RFC 9112 3.2.2)', async (t) => {
  const pub = await recordingBackend(t, 'public');
  const admin = await recordingBackend(t, 'admin');
  const routes: RouteConfig[] = [
    { host: 'admin.internal', group: 'admin' },
    { host: 'public.example', group: 'public' },
  ];
  const balancer = new Balancer({
    config: config(),
    metrics: createMetrics({ defaultMetrics: false }),
    routes,
  });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  balancer.setGroup('public', ready(['p', pub.backend.address]));
  balancer.setGroup('admin', ready(['a', admin.backend.address]));

  // Before: routed to `public` by its Host, which then saw a target naming admin.internal.
  const smuggled = await sendRaw(
    port,
    'GET http://admin.internal/secret?x=1 HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n',
    { keepOpen: true },
  );
  assert.match(smuggled.text, /^HTTP\/1\.1 200 /);
  assert.match(smuggled.text, /\r\n\r\nadmin$/);
  const noPath = await sendRaw(
    port,
    'GET https://public.example?q HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n',
    { keepOpen: true },
  );
  assert.match(noPath.text, /\r\n\r\npublic$/);
  assert.deepEqual(admin.seen, ['GET /secret?x=1 host=admin.internal']);
  assert.deepEqual(pub.seen, ['GET /?q host=public.example']);

  const userinfo = await sendRaw(
    port,
    'GET http://u:p@admin.internal/ HTTP/1.1\r\nHost: public.example\r\n\r\n',
    { keepOpen: true },
  );
  assert.equal(userinfo.status, 400);
  assert.match(userinfo.text, /has no usable authority/);
  assert.equal(admin.seen.length + pub.seen.length, 2, 'the refused one reached no backend');
});

test('Expect: 100-continue is answered by the balancer and not sent upstream; a GET with it is served', async (t) => {
  const { backend, seen } = await recordingBackend(t);
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  // Before: undici refuses an Expect header, so this GET got a 502 without reaching the backend.
  const get = await sendRaw(
    port,
    'GET /g HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    { keepOpen: true },
  );
  assert.match(get.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  const post = await sendRaw(
    port,
    'POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    { keepOpen: true },
  );
  assert.match(post.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  assert.deepEqual(seen, ['GET /g host=x', 'POST /p host=x']);
});

test('a transfer coding other than chunked gets 501 (400 when chunked is not last) and reaches no backend', async (t) => {
  const { backend, seen } = await recordingBackend(t);
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  // Before: Node removed the chunking but not the gzip, and the backend got a plain chunked body.
  const gzip = await sendRaw(
    port,
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    { keepOpen: true },
  );
  assert.equal(gzip.status, 501);
  assert.match(gzip.text, /transfer coding \\"gzip, chunked\\" is not supported/);
  assert.ok(gzip.closed, 'the connection is closed: the rest of the bytes are never read as a request');
  // No chunked at the end: the body's length is unknown (RFC 9112 §6.3), so 400 and close.
  const gzipOnly = await sendRaw(
    port,
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    { keepOpen: true },
  );
  assert.equal(gzipOnly.status, 400);
  assert.match(gzipOnly.text, /does not end in chunked/);
  assert.ok(gzipOnly.closed, 'gzipOnly.closed');
  assert.equal(
    gzipOnly.text.split('HTTP/1.1 ').length - 1,
    1,
    'one answer: the rest is not read as a request',
  );
  const chunked = await sendRaw(
    port,
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    { keepOpen: true },
  );
  assert.equal(chunked.status, 200);
  assert.deepEqual(seen, ['POST / host=x']);
});

test('Upgrade other than websocket (h2c) is not tunnelled: a plain request upstream, the answer relayed, closed', async (t) => {
  let upgradeOffered = 0;
  const backend = await startBackend(t, (_req, res) => {
    res.write('plain ');
    res.end('answer');
  });
  // A backend that would take the h2c upgrade: before, the client then had a raw connection to it.
  backend.server.on('upgrade', (_req, socket: net.Socket) => {
    upgradeOffered++;
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
  });
  const raw101 = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n'));
  });
  raw101.listen(0, '127.0.0.1');
  await once(raw101, 'listening');
  t.after(() => raw101.close());
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const h2c =
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n';
  const reply = await sendRaw(port, h2c, { keepOpen: true });
  assert.equal(upgradeOffered, 0, 'the backend was not offered the upgrade');
  assert.equal(reply.status, 200);
  assert.ok(reply.closed, 'reply.closed');
  // Relayed decoded: no Transfer-Encoding announcing chunks that are not there; the close ends it.
  assert.doesNotMatch(reply.text, /transfer-encoding/i);
  assert.match(reply.text, /\r\nConnection: close\r\n\r\nplain answer$/);

  const withBody =
    'POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello';
  assert.equal((await sendRaw(port, withBody, { keepOpen: true })).status, 400, 'with a body: refused');

  // A backend answering 101 to a request offered no upgrade gets no tunnel either.
  balancer.setGroup('web', ready(['raw', `127.0.0.1:${(raw101.address() as net.AddressInfo).port}`]));
  const unsolicited = await sendRaw(port, h2c, { keepOpen: true });
  assert.equal(unsolicited.status, 502);
  assert.equal(balancer.stats('web').inFlight, 0);
});

/** startResetter is a backend that reads each request to its end, then resets the connection unanswered. */
async function startResetter(t: TestContext): Promise<{ address: string; resets: () => number }> {
  let resets = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(text)?.[1] ?? 0);
      if (text.length < end + 4 + length) return;
      resets++;
      socket.resetAndDestroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, resets: () => resets };
}

test('a backend that resets after reading the whole request: GET retried elsewhere; POST and PATCH never', async (t) => {
  const r1 = await startResetter(t);
  const r2 = await startResetter(t);
  const { backend: good, seen } = await recordingBackend(t, 'good');
  const { balancer, metrics, port } = await startBalancer(t);
  const request = (method: string, body?: string) =>
    sendRaw(
      port,
      `${method} /${method.toLowerCase()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
        (body === undefined ? '\r\n' : `Content-Length: ${body.length}\r\n\r\n${body}`),
      { keepOpen: true },
    );
  const resets = () => r1.resets() + r2.resets();
  // Round-robin's first pick is the first instance.
  balancer.setGroup('web', ready(['r1', r1.address], ['good', good.address]));
  assert.match((await request('GET')).text, /^HTTP\/1\.1 200 [\s\S]*good$/);
  assert.deepEqual([resets(), await counter(metrics.retries, { group: 'web' })], [1, 1]);

  // Only resetting instances from here: whatever is retried reaches the second one too.
  balancer.setGroup('web', ready(['r1', r1.address], ['r2', r2.address]));
  for (const [method, body] of [
    ['POST', 'order=1'],
    ['PATCH', 'x=2'],
    ['POST', undefined],
  ] as const) {
    const before = resets();
    const reply = await request(method, body);
    assert.equal(reply.status, 502, `${method} ${body ?? '(no body)'}`);
    assert.match(reply.text, /upstream connection reset/);
    assert.equal(resets() - before, 1, `${method} ${body ?? '(no body)'} reached one backend once`);
  }
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1, 'no retry of POST or PATCH');
  const before = resets();
  assert.equal((await request('GET')).status, 502);
  assert.equal(resets() - before, 2, 'the GET was tried on both');
  assert.deepEqual(seen, ['GET /get host=x']);
});

test('drain under keep-alive load: a client holding its connections sees no failure, the drained instance no new request', async (t) => {
  // `a` holds the requests it gets until released, so some are in flight on it when the drain starts.
  let firstArrived!: () => void;
  const aBusy = new Promise<void>((resolve) => {
    firstArrived = resolve;
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holding = false;
  let aSeen = 0;
  const a = await startBackend(t, (req, res) => {
    aSeen++;
    req.resume();
    if (!holding) {
      req.on('end', () => res.end('a'));
      return;
    }
    firstArrived();
    void released.then(() => res.end('a'));
  });
  const b = await recordingBackend(t, 'b');
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', a.address], ['b', b.backend.address]));
  // Four client connections to the balancer, kept open and reused by every request below; the
  // balancer's own upstream connections to `a` are pooled and warm when the drain starts.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  const call = (method: 'GET' | 'POST') =>
    new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, agent, method, path: '/' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c;
        });
        res.on('end', () => resolve(res.statusCode === 200 ? body : `status ${res.statusCode}`));
      });
      req.on('error', reject);
      req.end(method === 'POST' ? 'x' : undefined);
    });
  const warm = await Promise.all(Array.from({ length: 16 }, (_, i) => call(i % 2 ? 'GET' : 'POST')));
  assert.ok(warm.includes('a') && warm.includes('b'), `both served before the drain: ${warm}`);
  const aWarm = aSeen;
  holding = true;
  const early = [call('GET'), call('POST'), call('GET'), call('POST')];
  await aBusy;
  // Picked for `a` before the drain: arrived there, or on their way.
  const pickedForA = aWarm + balancer.stats('web').backends.find((x) => x.id === 'a')!.inFlight;
  const drained = balancer.drain('web', 'a');
  const late = Array.from({ length: 40 }, (_, i) => call(i % 2 ? 'GET' : 'POST'));
  const lateAnswers = await Promise.all(late);
  release();
  const earlyAnswers = await Promise.all(early);
  await drained;
  assert.deepEqual(lateAnswers, Array(40).fill('b'), 'every request after the drain began went to b');
  assert.ok(
    earlyAnswers.every((x) => x === 'a' || x === 'b'),
    `${earlyAnswers}`,
  );
  assert.ok(earlyAnswers.includes('a'), 'a request held on a finished after the drain began');
  assert.equal(aSeen, pickedForA, 'a got nothing it was not given before the drain');
  const name = agent.getName({ host: '127.0.0.1', port });
  assert.ok((agent.freeSockets[name]?.length ?? 0) > 0, 'client connections stayed open');
});

/**
 * startOneShot is a backend that answers the first request on each connection keep-alive, and
 * resets the connection when a second request arrives on it: a backend closing an idle keep-alive
 * connection just as the balancer reuses it (a keep-alive timeout below the balancer's 4 s, as
 * gunicorn's 2 s default; a per-connection request cap), made deterministic.
 */
async function startOneShot(t: TestContext): Promise<{ address: string; answered: () => number }> {
  let answered = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let served = false;
    socket.on('data', () => {
      if (served) {
        // Closed as idle: a FIN, the request unanswered.
        socket.end();
        return;
      }
      served = true;
      answered++;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=60\r\n\r\nok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, answered: () => answered };
}

test('a reset on a reused keep-alive connection of the only backend: an idempotent request is retried on it, a POST is not', async (t) => {
  const backend = await startOneShot(t);
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['only', backend.address]));
  const request = (method: string) =>
    sendRaw(port, `${method} /${method.toLowerCase()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, {
      keepOpen: true,
    });
  // GET goes through the undici pool, DELETE through node:http's agent: each path's second request
  // meets the connection its first one left open.
  for (const method of ['GET', 'DELETE']) {
    assert.equal((await request(method)).status, 200, `${method}: first request`);
    const second = await request(method);
    // Before: 502 'upstream connection reset', the only backend being excluded from the retry.
    assert.equal(second.status, 200, `${method}: request on the reused connection: ${second.text}`);
  }
  assert.equal(backend.answered(), 4, 'requests the backend answered');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 2, 'one retry for each');
  // A POST meets the connection the DELETE's retry left open: it may have been acted on, so it is
  // never repeated, not even on the same backend.
  const post = await request('POST');
  assert.equal(post.status, 502, `POST on the reused connection: ${post.text}`);
  assert.equal(backend.answered(), 4, 'the POST was answered by no backend');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 2, 'no retry of the POST');
});

test('the same keep-alive race on a cache fill (the HTTP cache fetching from the only backend): retried on it', async (t) => {
  const backend = await startOneShot(t);
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({ config: config({ cache: cacheConfig() }), metrics });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  balancer.setGroup('web', ready(['only', backend.address]));
  const get = (path: string) =>
    sendRaw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { keepOpen: true });
  assert.equal((await get('/a')).status, 200, 'first fill');
  const second = await get('/b');
  // Before: 502 'upstream connection reset', the only backend being excluded from the retry.
  assert.equal(second.status, 200, `fill on the reused connection: ${second.text}`);
  assert.equal(backend.answered(), 2, 'fills the backend answered');
});
