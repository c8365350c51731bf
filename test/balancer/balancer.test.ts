import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { BalancerError, type HealthTransition, UnknownGroupError } from '../../src/balancer/index.js';
import {
  config,
  counter,
  deferred,
  json,
  ready,
  refusedAddress,
  send,
  startBackend,
  startBalancer,
  startHeldBackend,
} from './helpers.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('a request reaches the backend with X-Forwarded-* set and hop-by-hop headers stripped', async (t) => {
  let seen: http.IncomingHttpHeaders = {};
  const backend = await startBackend(t, (req, res) => {
    seen = req.headers;
    res.setHeader('Connection', 'keep-alive, X-Backend-Hop');
    res.setHeader('X-Backend-Hop', 'secret');
    res.setHeader('Proxy-Authenticate', 'Basic');
    res.setHeader('X-App', 'yes');
    res.end(`hello from ${req.method} ${req.url}`);
  });
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));

  const reply = await send(port, {
    path: '/items?x=1',
    headers: {
      Host: 'shop.example',
      Connection: 'keep-alive, X-Client-Hop',
      'X-Client-Hop': 'drop me',
      'Keep-Alive': 'timeout=5',
      'Proxy-Authorization': 'Basic eA==',
      TE: 'trailers',
      'X-Forwarded-For': '203.0.113.7',
      'X-Real-IP': '203.0.113.7',
      'X-Forwarded-Host': 'evil.example',
      Forwarded: 'for=203.0.113.7;host=evil.example;proto=https',
      'X-Request-Id': 'r1',
    },
  });
  assert.equal(reply.status, 200);
  assert.equal(reply.body.toString(), 'hello from GET /items?x=1');
  assert.equal(reply.headers['x-app'], 'yes');
  assert.equal(reply.headers['x-backend-hop'], undefined);
  assert.equal(reply.headers['proxy-authenticate'], undefined);

  assert.equal(seen.host, 'shop.example');
  assert.equal(seen['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  // Before: the client's own claim, as sent (NGINX's `proxy_set_header X-Real-IP $remote_addr`
  // overwrites it, as the balancer now does).
  assert.equal(seen['x-real-ip'], '127.0.0.1', 'X-Real-IP is the address the balancer saw');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], 'shop.example');
  assert.equal(seen['x-request-id'], 'r1');
  assert.equal(reply.headers['x-request-id'], 'r1', 'the client gets its request id back');
  // The client's claims about host and proto do not reach the backend, in either header.
  for (const gone of ['x-client-hop', 'keep-alive', 'proxy-authorization', 'forwarded']) {
    assert.equal(seen[gone], undefined, gone);
  }
  // TE is hop-by-hop, but its `trailers` token goes on (see trailers.test.ts).
  assert.equal(seen.te, 'trailers', 'TE as the backend saw it');
  assert.equal(await counter(metrics.requests, { group: 'web', code: '2xx' }), 1);
  assert.deepEqual(balancer.stats('web'), {
    inFlight: 0,
    requests: 1,
    panic: false,
    backends: [
      {
        id: 'a',
        address: backend.address,
        inFlight: 0,
        healthy: true,
        draining: false,
        ejected: false,
        weight: 1,
      },
    ],
  });
});

test('a 5 MB streamed POST body echoes back intact', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));

  const body = randomBytes(5 * 1024 * 1024);
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/echo', agent: false });
  // Read the echo while still sending, or both directions' buffers fill up and stall.
  const echoed = new Promise<{ status: number; digest: string }>((resolve, reject) => {
    req.once('response', (res: http.IncomingMessage) => {
      const hash = createHash('sha256');
      pipeline(res, hash).then(
        () => resolve({ status: res.statusCode!, digest: hash.digest('hex') }),
        reject,
      );
    });
  });
  const chunks = Array.from({ length: 80 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
  await pipeline(Readable.from(chunks), req);
  assert.deepEqual(await echoed, { status: 200, digest: sha256(body) });
});

test('no eligible backend: 503 JSON', async (t) => {
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', []);
  const reply = await send(port);
  assert.equal(reply.status, 503);
  assert.equal(reply.headers['content-type'], 'application/json');
  assert.equal(reply.body.toString(), '{"error":"no healthy backend","group":"web"}');
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'no_backend' }), 1);
  assert.equal(await counter(metrics.requests, { group: 'web', code: '5xx' }), 1);
});

test('no group at all: 503 JSON', async (t) => {
  const { port } = await startBalancer(t);
  const reply = await send(port);
  assert.equal(reply.status, 503);
  assert.deepEqual(json(reply), { error: 'no group configured' });
});

test('backend refuses and there is no other: 502 JSON', async (t) => {
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['dead', await refusedAddress()]));
  const reply = await send(port);
  assert.equal(reply.status, 502);
  assert.deepEqual(json(reply), { error: 'upstream connect failed', group: 'web' });
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'connect' }), 1);
  assert.equal(await counter(metrics.retries, { group: 'web' }), 0);
  assert.equal(balancer.stats('web').backends[0]?.inFlight, 0);
});

test('connect refused is retried on the other backend, body and all', async (t) => {
  const live = await startBackend(t, (req, res) => {
    res.writeHead(201);
    req.pipe(res);
  });
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['dead', await refusedAddress()], ['live', live.address]));
  const reply = await send(port, { method: 'POST', body: 'order #1' });
  assert.equal(reply.status, 201);
  assert.equal(reply.body.toString(), 'order #1');
  assert.equal(live.requests, 1);
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1);
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'connect' }), 1);
  assert.deepEqual(
    balancer.stats('web').backends.map((b) => b.inFlight),
    [0, 0],
  );
});

test('a reused keep-alive socket reset before the response: GET retried, POST not', async (t) => {
  // `stale` answers the first request of each connection and resets the second, as a backend
  // closing an idle keep-alive connection just as the balancer reuses it.
  const served = new WeakSet<object>();
  const stale = await startBackend(t, (req, res) => {
    if (served.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    served.add(req.socket);
    res.end('stale');
  });
  const fresh = await startBackend(t, (_req, res) => res.end('fresh'));
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['stale', stale.address], ['fresh', fresh.address]));

  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) bodies.push((await send(port)).body.toString());
  assert.deepEqual(bodies, ['stale', 'fresh', 'fresh'], 'third GET hit the reset socket and went to fresh');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1);
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'reset' }), 1);

  // Round-robin is now on `fresh`, then `stale` (a new socket: served), then `stale` again: reset.
  assert.equal((await send(port, { method: 'POST' })).body.toString(), 'fresh');
  assert.equal((await send(port, { method: 'POST' })).body.toString(), 'stale');
  await send(port, { method: 'POST' });
  const post = await send(port, { method: 'POST' });
  assert.equal(post.status, 502, 'POST without Idempotency-Key is not repeated');
  assert.deepEqual(json(post), { error: 'upstream connection reset', group: 'web' });
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1);
});

test('a POST whose backend resets mid-request is not retried', async (t) => {
  const backends = await Promise.all(
    ['a', 'b'].map(() =>
      startBackend(t, (req) => {
        req.once('data', () => req.socket.destroy());
      }),
    ),
  );
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backends[0]!.address], ['b', backends[1]!.address]));
  const reply = await send(port, {
    method: 'PUT',
    path: '/upload',
    headers: { 'Idempotency-Key': 'k1' },
    body: randomBytes(256 * 1024),
  });
  assert.equal(reply.status, 502);
  assert.equal(backends[0]!.requests + backends[1]!.requests, 1);
  assert.equal(await counter(metrics.retries, { group: 'web' }), 0);
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'reset' }), 1);
});

test('request timeout: 504 JSON, and the backend request is aborted', async (t) => {
  const aborted = deferred();
  const backend = await startBackend(t, (req) => {
    req.socket.once('close', () => aborted.resolve());
  });
  const { balancer, metrics, port } = await startBalancer(t, config({ requestTimeout: 100 }));
  balancer.setGroup('web', ready(['a', backend.address]));
  const reply = await send(port);
  assert.equal(reply.status, 504);
  assert.deepEqual(json(reply), { error: 'upstream timed out', group: 'web' });
  await aborted.promise;
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'timeout' }), 1);
  assert.equal(balancer.stats('web').inFlight, 0);
});

test('a client that disconnects aborts the upstream request', async (t) => {
  const arrived = deferred();
  const aborted = deferred();
  const backend = await startBackend(t, (req) => {
    req.socket.once('close', () => aborted.resolve());
    arrived.resolve();
  });
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const req = http.get({ host: '127.0.0.1', port, agent: false });
  req.on('error', () => {});
  await arrived.promise;
  req.destroy();
  await aborted.promise;
  assert.equal(balancer.stats('web').inFlight, 0);
  assert.equal(balancer.stats('web').backends[0]?.inFlight, 0);
  assert.equal(await counter(metrics.requests, { group: 'web', code: 'error' }), 1);
});

test('drain: the in-flight request finishes, no new one goes there, drain resolves after it', async (t) => {
  const { backend: slow, arrived, release } = await startHeldBackend(t, 'slow done');
  const other = await startBackend(t, (_req, res) => res.end('other'));
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['slow', slow.address], ['other', other.address]));

  const first = send(port);
  await arrived;
  const events: string[] = [];
  const drained = balancer.drain('web', 'slow').then(() => events.push('drained'));
  for (let i = 0; i < 3; i++) assert.equal((await send(port)).body.toString(), 'other');
  assert.deepEqual(
    balancer.stats('web').backends.map((b) => [b.id, b.inFlight, b.draining]),
    [
      ['slow', 1, true],
      ['other', 0, false],
    ],
  );
  assert.equal(events.length, 0, 'drain waits for the slow request');
  release();
  const reply = await first;
  events.push('response');
  assert.equal(reply.status, 200);
  assert.equal(reply.body.toString(), 'slow done');
  await drained;
  assert.deepEqual(events.sort(), ['drained', 'response']);
  assert.equal(slow.requests, 1);
  await balancer.drain('web', 'slow');
});

test('an instance reported draining gets no new requests, even if reported ready again', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => res.end('b'));
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
  balancer.setGroup('web', [
    { id: 'a', address: a.address, state: 'draining' },
    { id: 'b', address: b.address, state: 'ready' },
  ]);
  for (let i = 0; i < 2; i++) assert.equal((await send(port)).body.toString(), 'b');
  balancer.setGroup('web', ready(['a', a.address]));
  assert.equal((await send(port)).status, 503, 'a draining instance never comes back');
  assert.deepEqual(
    balancer.stats('web').backends.map((x) => [x.id, x.draining]),
    [['a', true]],
  );
  balancer.setGroup('web', []);
  assert.deepEqual(balancer.stats('web').backends, []);
  assert.equal(a.requests + b.requests, 2);
});

test('health checks take a 503-answering backend out and bring it back', async (t) => {
  let health = 200;
  const sick = await startBackend(t, (_req, res) => res.end('sick'), {
    healthPath: '/ready',
    health: () => health,
  });
  const well = await startBackend(t, (_req, res) => res.end('well'), { healthPath: '/ready' });
  const { balancer, metrics, port } = await startBalancer(
    t,
    config({}, { interval: 10, unhealthyThreshold: 2 }),
  );
  balancer.setGroup('web', ready(['sick', sick.address], ['well', well.address]), { healthPath: '/ready' });

  health = 503;
  const [down] = (await once(balancer, 'health')) as [HealthTransition];
  assert.deepEqual([down.id, down.healthy, down.detail], ['sick', false, '503']);
  assert.equal(balancer.stats('web').backends[0]?.healthy, false);
  for (let i = 0; i < 3; i++) assert.equal((await send(port)).body.toString(), 'well');

  health = 200;
  const [up] = (await once(balancer, 'health')) as [HealthTransition];
  assert.deepEqual([up.id, up.healthy], ['sick', true]);
  const bodies = new Set<string>();
  for (let i = 0; i < 2; i++) bodies.add((await send(port)).body.toString());
  assert.deepEqual([...bodies].sort(), ['sick', 'well']);
  assert.equal(await counter(metrics.healthTransitions, { group: 'web', to: 'unhealthy' }), 1);
  assert.equal(await counter(metrics.healthTransitions, { group: 'web', to: 'healthy' }), 1);
});

test('routing v1: everything goes to the first group added; removing it hands over', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => res.end('b'));
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', a.address]));
  balancer.setGroup('api', ready(['b', b.address]));
  assert.equal((await send(port)).body.toString(), 'a');
  assert.equal(balancer.removeGroup('web'), true);
  assert.equal(balancer.removeGroup('web'), false);
  assert.equal((await send(port)).body.toString(), 'b');
  assert.throws(() => balancer.stats('web'), UnknownGroupError);
  await balancer.drain('web', 'a');
});

test('close: lets the in-flight request finish, is idempotent, and refuses to listen again', async (t) => {
  const { backend, arrived, release } = await startHeldBackend(t, 'finished');
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const inFlight = send(port);
  await arrived;
  const closing = balancer.close();
  assert.equal(balancer.close(), closing);
  release();
  const reply = await inFlight;
  assert.equal(reply.status, 200);
  assert.equal(reply.body.toString(), 'finished');
  assert.equal(reply.headers.connection, 'close');
  await closing;
  await assert.rejects(
    balancer.listen(),
    (err: unknown) => err instanceof BalancerError && err.code === 'BALANCER_CLOSED',
  );
  assert.throws(() => balancer.setGroup('web', []), BalancerError);
});

test('invalid config and addresses are refused eagerly', async (t) => {
  const { balancer } = await startBalancer(t);
  assert.throws(
    () => balancer.setGroup('web', [{ id: 'a', address: 'nope', state: 'ready' }]),
    (err: unknown) => err instanceof BalancerError && err.code === 'BALANCER_INVALID_ADDRESS',
  );
  assert.throws(() => balancer.stats('web'), UnknownGroupError, 'a failed first setGroup creates nothing');
  const { Balancer } = await import('../../src/balancer/index.js');
  const { createMetrics } = await import('../../src/metrics/index.js');
  for (const cfg of [
    config({ requestTimeout: 0 }),
    config({}, { interval: -1 }),
    config({}, { healthyThreshold: 0 }),
  ]) {
    assert.throws(
      () => new Balancer({ config: cfg, metrics: createMetrics({ defaultMetrics: false }) }),
      (err: unknown) => err instanceof BalancerError && err.code === 'BALANCER_INVALID_ARGUMENT',
    );
  }
});
