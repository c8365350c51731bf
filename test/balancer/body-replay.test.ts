// A request with a body meeting the keep-alive race (the backend closes an idle connection just as
// the balancer reuses it): a small body is kept as it streams and sent again on another connection
// when the request may be repeated (idempotent method or Idempotency-Key); a POST, or a body over
// REPLAY_BODY_LIMIT, is not repeated.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { REPLAY_BODY_LIMIT } from '../../src/balancer/index.js';
import { makeCertificate } from '../helpers/tls.js';
import { config, counter, ready, startBackend, startBalancer } from './helpers.js';

interface OneShotBackend {
  address: string;
  /** Bodies the backend read whole, as `METHOD length sha256-prefix`. */
  served: string[];
  /** Resolves at the next request that arrives as the first on its connection (it is served). */
  nextServed(): Promise<void>;
}

/**
 * oneShotBackend serves the first request on each connection, reading its body whole, and drops
 * the connection when a second request arrives on it, unread: a backend whose keep-alive timeout
 * ran out just as the balancer reused the connection (gunicorn's 2 s), made deterministic.
 */
async function oneShotBackend(t: TestContext): Promise<OneShotBackend> {
  const used = new WeakSet<Socket>();
  const served: string[] = [];
  let waiter: (() => void) | undefined;
  const backend = await startBackend(t, (req, res) => {
    if (used.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    used.add(req.socket);
    waiter?.();
    waiter = undefined;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const seen = `${req.method} ${body.length} ${digest(body)}`;
      served.push(seen);
      res.end(seen);
    });
  });
  return {
    address: backend.address,
    served,
    nextServed: () => new Promise((resolve) => (waiter = resolve)),
  };
}

function digest(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 12);
}

/** request sends one request on a fresh client connection and resolves its status and body. */
function request(
  port: number,
  method: string,
  body: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    // Declared: node:http sends a DELETE's body without a length otherwise.
    const declared = { 'content-length': Buffer.byteLength(body), ...headers };
    const options = { host: '127.0.0.1', port, agent: false, method, path: '/', headers: declared };
    const req = http.request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function setup(t: TestContext) {
  const backend = await oneShotBackend(t);
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['only', backend.address]));
  // The balancer's one upstream connection, served once and kept open: every request below meets
  // it reused, and a retry leaves a fresh one open for the next.
  assert.equal((await request(port, 'PUT', 'warm')).status, 200, 'first request, on a new connection');
  return { backend, metrics, port };
}

test('a PUT, a DELETE and a POST with an Idempotency-Key, their bodies sent again after a reset on a reused connection', async (t) => {
  const { backend, metrics, port } = await setup(t);
  const cases: [method: string, body: string, headers?: http.OutgoingHttpHeaders][] = [
    ['PUT', 'x'.repeat(1000)],
    ['DELETE', '{"ids":[1,2,3]}'],
    ['POST', 'charge 5 EUR', { 'idempotency-key': 'k-1' }],
    ['PUT', 'y'.repeat(REPLAY_BODY_LIMIT)],
  ];
  for (const [method, body, headers] of cases) {
    const answer = await request(port, method, body, headers);
    // Before: 502 'upstream connection reset', the body having streamed once and been dropped.
    assert.equal(answer.status, 200, `${method} of ${body.length} bytes: ${answer.text}`);
    assert.equal(
      answer.text,
      `${method} ${body.length} ${digest(body)}`,
      'the backend read the body whole, once',
    );
  }
  assert.equal(backend.served.length, 1 + cases.length, `requests served: ${backend.served.join(', ')}`);
  assert.equal(await counter(metrics.retries, { group: 'web' }), cases.length, 'one retry each');
});

test('a chunked PUT still arriving when its attempt is reset: what came is sent again, then the rest', async (t) => {
  const { backend, port } = await setup(t);
  const first = 'a'.repeat(3000);
  const rest = 'b'.repeat(5000);
  const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        agent: false,
        method: 'PUT',
        path: '/',
        headers: { 'transfer-encoding': 'chunked' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on('error', reject);
    req.write(first);
    // The retry is on the backend's next connection: only then does the rest of the body leave.
    void backend.nextServed().then(() => req.end(rest));
  });
  const answer = await answered;
  assert.equal(answer.status, 200, `chunked PUT: ${answer.text}`);
  assert.equal(
    answer.text,
    `PUT 8000 ${digest(first + rest)}`,
    'the backend read both parts, in order, once',
  );
});

test('a POST with a body, or a PUT with a body over the limit, is not sent again', async (t) => {
  const { backend, metrics, port } = await setup(t);
  const post = await request(port, 'POST', 'charge 5 EUR');
  assert.equal(post.status, 502, `POST without Idempotency-Key: ${post.text}`);
  // The POST's attempt left no connection open: the next request gets a fresh one, then one more
  // to meet a reused connection.
  assert.equal((await request(port, 'PUT', 'warm again')).status, 200, 'a PUT on a fresh connection');
  const big = 'z'.repeat(REPLAY_BODY_LIMIT + 1);
  const put = await request(port, 'PUT', big);
  assert.equal(put.status, 502, `PUT of ${big.length} bytes: ${put.text}`);
  assert.deepEqual(
    backend.served.map((seen) => seen.split(' ').slice(0, 2).join(' ')),
    ['PUT 4', 'PUT 10'],
    'the backend served neither the POST nor the big PUT',
  );
  assert.equal(await counter(metrics.retries, { group: 'web' }), 0, 'no retry');
});

test('a PUT whose body a dying instance read is sent whole to another instance', async (t) => {
  // `dying` reads each body and resets the connection before answering (a crash mid-request, on a
  // fresh connection): a PUT may be repeated (IdempotentReset), with the same body.
  const readByDying: string[] = [];
  const dying = await startBackend(t, (req) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      readByDying.push(body);
      req.socket.destroy();
    });
  });
  const healthy = await startBackend(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => res.end(Buffer.concat(chunks)));
  });
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['dying', dying.address], ['healthy', healthy.address]));
  const sent = ['v=1', 'v=2', 'v=3', 'v=4'];
  for (const body of sent) {
    const answer = await request(port, 'PUT', body);
    // Before: 502 for each PUT round-robin gave `dying` first.
    assert.equal(answer.status, 200, `PUT ${body}: ${answer.text}`);
    assert.equal(answer.text, body, 'the healthy instance got the body whole');
  }
  assert.ok(readByDying.length >= 1, 'round-robin gave the dying instance some of the PUTs first');
  assert.ok(
    readByDying.every((body) => sent.includes(body)),
    `the dying instance read only bodies the client sent: ${readByDying}`,
  );
  assert.equal(await counter(metrics.retries, { group: 'web' }), readByDying.length, 'one retry per reset');
});

test('over HTTP/2 too: a PUT body sent again after a reset on a reused upstream connection', async (t) => {
  const cert = await makeCertificate();
  t.after(() => cert.remove());
  const backend = await oneShotBackend(t);
  const { balancer, metrics, port } = await startBalancer(
    t,
    config({ tls: { cert: cert.certPath, key: cert.keyPath } }),
  );
  balancer.setGroup('web', ready(['only', backend.address]));
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.cert });
  session.on('error', () => {});
  t.after(() => session.destroy());
  const put = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':method': 'PUT', ':path': '/' });
      let text = '';
      let status = 0;
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => resolve(`${status} ${text}`));
      stream.on('error', reject);
      stream.end(body);
    });
  assert.equal(
    await put('warm'),
    `200 PUT 4 ${digest('warm')}`,
    'first request, on a new upstream connection',
  );
  const body = 'h'.repeat(2000);
  // Before: 502 'upstream connection reset'.
  assert.equal(await put(body), `200 PUT 2000 ${digest(body)}`, 'the backend read the body whole, once');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1, 'one retry');
});
