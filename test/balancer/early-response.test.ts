// A backend that answers an upload before reading all of it (a 401, 403 or 413 decided from the
// headers), against a real node:http client that keeps its connection alive and sends the rest of
// its body after the answer, as clients do.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { deferred, ready, startBackend, startBalancer } from './helpers.js';

/** HANG_MS bounds a wait that, before the fix, never ended; it is no performance assertion. */
const HANG_MS = 10_000;

function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no end within ${HANG_MS} ms`)), HANG_MS).unref(),
    ),
  ]);
}

test('an answer before the whole upload: relayed with Connection: close, the backend connection let go, the client not stuck', async (t) => {
  const upstreamClosed = deferred();
  const backend = await startBackend(t, (req, res) => {
    req.socket.once('close', () => upstreamClosed.resolve());
    // Decided from the headers alone; the body is never read.
    res.writeHead(401, { 'Content-Type': 'text/plain' });
    res.end('no');
  });
  // No timeouts of its own: the backend holds a half-sent request for as long as the balancer does.
  backend.server.requestTimeout = 0;
  backend.server.keepAliveTimeout = 0;
  backend.server.headersTimeout = 0;
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());

  const first = await bounded(
    new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/upload',
          agent,
          headers: { 'Content-Length': 300_000 },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
          // The rest of the body, once the answer is in.
          req.end(Buffer.alloc(299_000));
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(1_000));
    }),
    'the answer',
  );
  assert.deepEqual(first, { status: 401, connection: 'close', body: 'no' });
  // Before: the balancer went on piping the client's body into a backend that read none of it, and
  // held that connection, backpressured, for good.
  await bounded(upstreamClosed.promise, 'the backend connection closing');
  // Before: the answer said keep-alive, but the rest of the body was never read from the client's
  // connection, so the next request on it hung.
  const next = await bounded(
    new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/next', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        })
        .on('error', reject);
    }),
    'the next request',
  );
  assert.equal(next, 401);
  assert.equal(balancer.stats('web').inFlight, 0);
});
