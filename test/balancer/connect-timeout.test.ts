// A backend that never answers the SYN (its accept queue is full, so the kernel drops the SYN, as
// a blackholed host would) must cost a request only the connect timeout: the request never reached
// it, so it goes to another instance whatever its method. A timeout once the request was sent must
// still never repeat a POST. All on 127.0.0.1: the blackhole is a real listening socket whose owner
// (a worker thread with a blocked event loop) never accepts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { guardConnect } from '../../src/balancer/connect-timeout.js';
import {
  Balancer,
  classifyUpstreamError,
  DEFAULT_CONNECT_TIMEOUT,
  defaultConnectTimeout,
  gatewayStatus,
} from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { cacheConfig } from './cache/helpers.js';
import { config, ready, send, startBackend, startBalancer, startBlackhole } from './helpers.js';

test('classifyUpstreamError: ETIMEDOUT is a connect failure only from the connect syscall', () => {
  const timedOut = (syscall?: string) => Object.assign(new Error('x'), { code: 'ETIMEDOUT', syscall });
  assert.equal(classifyUpstreamError(timedOut('connect')), 'connect', 'kernel/balancer connect timeout');
  assert.equal(classifyUpstreamError(timedOut('read')), 'timeout', 'a read on an open connection');
  assert.equal(classifyUpstreamError(timedOut()), 'timeout', 'no phase known: not retried as a connect');
});

test('defaultConnectTimeout: 10 s, or a third of the request timeout when shorter (pure)', () => {
  const cases: Array<[requestTimeout: number, connectTimeout: number]> = [
    [60_000, DEFAULT_CONNECT_TIMEOUT],
    [30_003, DEFAULT_CONNECT_TIMEOUT],
    [30_000, 10_000],
    [29_999, 9_999],
    [15_000, 5_000],
    [5_000, 1_666],
    [2, 1],
    [1, 1],
  ];
  for (const [request, connect] of cases) {
    assert.equal(defaultConnectTimeout(request), connect, `requestTimeout ${request}`);
    // Three connects (a try and 2 retries) fit in the request's time: the request timer never
    // cuts a connect that would have failed over in time.
    if (request >= 3)
      assert.ok(3 * defaultConnectTimeout(request) <= request, `3 connects within ${request}`);
  }
});

test('gatewayStatus: 504 for a timeout, connecting included; 502 for any other failure (pure)', () => {
  const cases: Array<[err: object, status: 502 | 504]> = [
    [{ code: 'ETIMEDOUT', syscall: 'connect' }, 504],
    [{ code: 'UND_ERR_CONNECT_TIMEOUT' }, 504],
    [{ code: 'ETIMEDOUT', syscall: 'read' }, 504],
    [{ code: 'ECONNREFUSED', syscall: 'connect' }, 502],
    [{ code: 'ECONNRESET' }, 502],
    [{ code: 'UND_ERR_SOCKET' }, 502],
    [{}, 502],
  ];
  for (const [err, status] of cases) assert.equal(gatewayStatus(err), status, JSON.stringify(err));
});

test('guardConnect spares a connection that opened while the event loop was busy past the timeout', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const [host, port] = backend.address.split(':') as [string, string];
  const request = http.request({ host, port: Number(port), path: '/', agent: false });
  t.after(() => request.destroy());
  guardConnect(request, 20);
  // Queued after the request's own next-tick work (the connect syscall; the 'socket' event, which
  // arms the timer): the loop stays busy past the timeout while the kernel completes the loopback
  // connect, so the timer is due before the loop polls the socket and sees it open. Before, the
  // timer destroyed the request as a connect timeout: a loaded balancer (a GC pause, a burst)
  // failed healthy instances' connects, retried them elsewhere and blamed them for outliers.
  process.nextTick(() => {
    const until = performance.now() + 200;
    while (performance.now() < until);
  });
  request.end();
  const [response] = (await once(request, 'response')) as [http.IncomingMessage];
  response.resume();
  assert.equal(response.statusCode, 200, 'the request went through');
});

test('a connectTimeout that is not a positive number of ms is refused, naming the field', () => {
  for (const connectTimeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () =>
        new Balancer({
          config: config({ connectTimeout }),
          metrics: createMetrics({ defaultMetrics: false }),
        }),
      (err: Error & { code?: string }) =>
        err.code === 'BALANCER_INVALID_ARGUMENT' && /^connectTimeout must be > 0 ms, got /.test(err.message),
      `connectTimeout ${connectTimeout}`,
    );
  }
});

test('a connectTimeout at or above requestTimeout is refused, naming both', async () => {
  for (const [connectTimeout, requestTimeout] of [
    [1_000, 1_000],
    [30_000, 1_000],
  ]) {
    assert.throws(
      () =>
        new Balancer({
          config: config({ connectTimeout, requestTimeout }),
          metrics: createMetrics({ defaultMetrics: false }),
        }),
      (err: Error & { code?: string }) =>
        err.code === 'BALANCER_INVALID_ARGUMENT' &&
        err.message.startsWith(
          `connectTimeout (${connectTimeout} ms) must be below requestTimeout (${requestTimeout} ms)`,
        ),
      `connectTimeout ${connectTimeout}, requestTimeout ${requestTimeout}`,
    );
  }
  // Just below: accepted.
  const balancer = new Balancer({
    config: config({ connectTimeout: 999, requestTimeout: 1_000 }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  assert.equal(balancer.constructor, Balancer, 'built');
  await balancer.close();
});

for (const [name, method, body] of [
  ['a POST with a body', 'POST', 'order=1'],
  ['a bodiless GET', 'GET', undefined],
] as const) {
  test(`${name} to a blackholed instance is retried on another after the connect timeout`, async (t) => {
    const hole = await startBlackhole(t);
    const seen: string[] = [];
    const good = await startBackend(t, (req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      req.on('end', () => {
        seen.push(`${req.method} ${text}`);
        res.end('good');
      });
    });
    const { balancer, metrics, port } = await startBalancer(
      t,
      // The request timeout is far beyond the connect timeout: without a connect timeout of its
      // own, or with ETIMEDOUT taken for a request timeout, the client gets a 504 or a 502.
      config({ connectTimeout: 300, requestTimeout: 30_000 }),
    );
    // Round-robin starts at the first instance: the blackhole.
    balancer.setGroup('web', ready(['hole', hole], ['good', good.address]));
    const reply = await send(port, { method, path: '/orders', ...(body === undefined ? {} : { body }) });
    assert.equal(reply.status, 200, `status ${reply.status}: ${reply.body.toString()}`);
    assert.equal(reply.body.toString(), 'good');
    assert.deepEqual(seen, [`${method} ${body ?? ''}`], 'the good instance got the request once');
    const errors = await metrics.upstreamErrors.get();
    const kinds = errors.values.filter((v) => v.value > 0).map((v) => `${v.labels.kind}=${v.value}`);
    assert.deepEqual(kinds, ['connect=1'], `upstream errors counted: ${kinds.join(', ')}`);
  });
}

// The bodiless GET goes through undici, whose own connect timer ticks every ~500 ms: a 100 ms
// connect_timeout fired after 0.5-1 s, past this request_timeout, so the client got a 504 where a
// retry on the good instance was due.
test("a bodiless GET to a blackholed instance is retried at connect_timeout, not at undici's coarse tick", async (t) => {
  const hole = await startBlackhole(t);
  const good = await startBackend(t, (_req, res) => res.end('good'));
  const { balancer, metrics, port } = await startBalancer(
    t,
    config({ connectTimeout: 100, requestTimeout: 450 }),
  );
  balancer.setGroup('web', ready(['hole', hole], ['good', good.address]));
  const reply = await send(port, { path: '/orders' });
  assert.equal(reply.status, 200, `status ${reply.status}: ${reply.body.toString()}`);
  assert.equal(good.requests, 1);
  const errors = await metrics.upstreamErrors.get();
  const kinds = errors.values.filter((v) => v.value > 0).map((v) => `${v.labels.kind}=${v.value}`);
  assert.deepEqual(kinds, ['connect=1'], `upstream errors counted: ${kinds.join(', ')}`);
});

// Only a short request timeout set: before, the default connect timeout (10 s) outlasted it, so
// the blackholed instance took all of the request's time and the client got a 504 at 6 s.
for (const [name, method, body] of [
  ['a POST with a body', 'POST', 'order=1'],
  ['a bodiless GET', 'GET', undefined],
] as const) {
  test(`${name} to a blackholed instance, with only a short requestTimeout, is retried on another within it`, async (t) => {
    const hole = await startBlackhole(t);
    const good = await startBackend(t, (req, res) => {
      req.resume();
      req.on('end', () => res.end('good'));
    });
    // No connectTimeout: the default follows the request timeout (2 s of 6 s).
    const { balancer, metrics, port } = await startBalancer(t, config({ requestTimeout: 6_000 }));
    balancer.setGroup('web', ready(['hole', hole], ['good', good.address]));
    const reply = await send(port, { method, path: '/orders', ...(body === undefined ? {} : { body }) });
    assert.equal(reply.status, 200, `status ${reply.status}: ${reply.body.toString()}`);
    assert.equal(good.requests, 1, `the good instance got ${good.requests} requests`);
    const errors = await metrics.upstreamErrors.get();
    const kinds = errors.values.filter((v) => v.value > 0).map((v) => `${v.labels.kind}=${v.value}`);
    assert.deepEqual(kinds, ['connect=1'], `upstream errors counted: ${kinds.join(', ')}`);
    const retries = (await metrics.retries.get()).values.reduce((sum, v) => sum + v.value, 0);
    assert.equal(retries, 1, 'one retry counted');
  });
}

// NGINX answers a connect timeout with nothing left to try 504 ("upstream timed out ... while
// connecting to upstream"), Envoy 503; before, it was a 502, the answer to a refused connect.
for (const [name, method, body] of [
  ['a POST with a body', 'POST', 'order=1'],
  ['a bodiless GET', 'GET', undefined],
] as const) {
  test(`${name} whose only instance is blackholed gets a 504 naming the connect timeout`, async (t) => {
    const hole = await startBlackhole(t);
    const { balancer, metrics, port } = await startBalancer(
      t,
      config({ connectTimeout: 300, requestTimeout: 30_000 }),
    );
    balancer.setGroup('web', ready(['hole', hole]));
    const reply = await send(port, { method, path: '/orders', ...(body === undefined ? {} : { body }) });
    assert.equal(reply.status, 504, `status ${reply.status}: ${reply.body.toString()}`);
    assert.equal(
      reply.body.toString(),
      '{"error":"upstream connect timed out","group":"web"}',
      'the body names the connect timeout',
    );
    const errors = await metrics.upstreamErrors.get();
    const kinds = errors.values.filter((v) => v.value > 0).map((v) => `${v.labels.kind}=${v.value}`);
    assert.deepEqual(kinds, ['connect=1'], `upstream errors counted: ${kinds.join(', ')}`);
    const requests = (await metrics.requests.get()).values.filter((v) => v.value > 0);
    assert.deepEqual(
      requests.map((v) => `${v.labels.code}=${v.value}`),
      ['5xx=1'],
      'the request counted as a 5xx',
    );
  });
}

test('a cache fill whose only instance is blackholed gets a 504 naming the connect timeout', async (t) => {
  const hole = await startBlackhole(t);
  const { balancer, port } = await startBalancer(
    t,
    config({ connectTimeout: 300, requestTimeout: 30_000, cache: cacheConfig() }),
  );
  balancer.setGroup('web', ready(['hole', hole]));
  const reply = await send(port, { path: '/doc' });
  assert.equal(reply.status, 504, `status ${reply.status}: ${reply.body.toString()}`);
  assert.match(reply.body.toString(), /upstream connect timed out/, 'the body names the connect timeout');
});

test('a WebSocket handshake whose only instance is blackholed gets a 504 naming the connect timeout', async (t) => {
  const hole = await startBlackhole(t);
  const { balancer, port } = await startBalancer(t, config({ connectTimeout: 300, requestTimeout: 30_000 }));
  balancer.setGroup('web', ready(['hole', hole]));
  const client = net.connect(port, '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write(
    'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(client, 'close');
  const text = Buffer.concat(chunks).toString('latin1');
  assert.match(text, /^HTTP\/1\.1 504 /, `the client got ${JSON.stringify(text)}`);
  assert.match(text, /upstream connect timed out/, 'the body names the connect timeout');
});

test('a cache fill from a blackholed instance is retried on another after the connect timeout', async (t) => {
  const hole = await startBlackhole(t);
  const good = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'Cache-Control': 'max-age=60' });
    res.end('filled');
  });
  const { balancer, port } = await startBalancer(
    t,
    config({ connectTimeout: 300, requestTimeout: 30_000, cache: cacheConfig() }),
  );
  balancer.setGroup('web', ready(['hole', hole], ['good', good.address]));
  const reply = await send(port, { path: '/doc' });
  assert.equal(reply.status, 200, `status ${reply.status}: ${reply.body.toString()}`);
  assert.equal(reply.body.toString(), 'filled');
  assert.equal(good.requests, 1, `the good instance got ${good.requests} fills`);
});

test('a WebSocket handshake to a blackholed instance is tried on another after the connect timeout', async (t) => {
  const hole = await startBlackhole(t);
  const live = await startBackend(t, (_req, res) => res.end());
  live.server.on('upgrade', (_req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  const { balancer, port } = await startBalancer(t, config({ connectTimeout: 300, requestTimeout: 30_000 }));
  balancer.setGroup('web', ready(['hole', hole], ['live', live.address]));
  const client = net.connect(port, '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write(
    'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const [chunk] = (await once(client, 'data')) as [Buffer];
  const head = chunk.toString('latin1').split('\r\n')[0];
  assert.equal(head, 'HTTP/1.1 101 Switching Protocols', `the client got ${JSON.stringify(head)}`);
  // Before the balancer's close, which otherwise waits out its drain timeout for the open tunnel.
  client.destroy();
  await once(client, 'close');
});

test('a POST whose backend took it and never answered is not retried (a 504)', async (t) => {
  let arrivals = 0;
  const silent = await startBackend(t, (req) => {
    arrivals++;
    req.resume();
  });
  const other = await startBackend(t, (_req, res) => {
    arrivals++;
    res.end('other');
  });
  const { balancer, port } = await startBalancer(t, config({ connectTimeout: 300, requestTimeout: 1_000 }));
  balancer.setGroup('web', ready(['silent', silent.address], ['other', other.address]));
  const reply = await send(port, { method: 'POST', path: '/pay', body: 'amount=5' });
  assert.equal(reply.status, 504, `status ${reply.status}: ${reply.body.toString()}`);
  assert.equal(arrivals, 1, `the POST reached ${arrivals} backends`);
  assert.equal(other.requests, 0, 'the other instance never saw the POST');
});
