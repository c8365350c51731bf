// A backend that answers an upload before reading all of it (a 401, 403 or 413 decided from the
// headers), against a real node:http client that keeps its connection alive and sends the rest of
// its body after the answer, as clients do.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
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

/** UPLOAD is large enough that the client is still sending when the backend closes. */
const UPLOAD = 8 * 1024 * 1024;

/** uploadFast sends UPLOAD bytes as fast as the connection takes them and reads the answer. */
function uploadFast(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/upload',
        agent: false,
        headers: { 'Content-Length': UPLOAD },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = (): void => {
      while (sent < UPLOAD) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** rawBackend answers each connection's first bytes with `answer` (none: no answer), then resets it. */
async function rawBackend(t: TestContext, answer: string | undefined): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      if (answer === undefined) {
        socket.resetAndDestroy();
        return;
      }
      socket.write(answer);
      // Closed with the upload unread in its buffer: the kernel sends a reset.
      socket.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('an early answer, then the backend closing while the client still uploads fast: the answer is relayed, not a 502', async (t) => {
  const node = await startBackend(t, (_req, res) => {
    // node:http closes the connection after this answer, with the upload unread.
    res.writeHead(401, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('no');
  });
  const raw = await rawBackend(
    t,
    'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntoo big',
  );
  const { balancer, port } = await startBalancer(t);
  const seen = async (address: string): Promise<string[]> => {
    balancer.setGroup('web', ready(['a', address]));
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = await bounded(uploadFast(port), 'the upload');
      answers.push(`${reply.status} ${reply.body}`);
    }
    return answers;
  };
  // Before: 5 × `502 {"error":"upstream connection reset"}` for each (EPIPE / ECONNRESET while
  // sending the body; node:http's client destroyed the socket with the answer unread in it).
  assert.deepEqual(
    await seen(node.address),
    Array(5).fill('401 no'),
    'node:http backend closing after its 401',
  );
  assert.deepEqual(await seen(raw), Array(5).fill('413 too big'), 'backend resetting after its 413');
  assert.equal(balancer.stats('web').inFlight, 0, 'requests left in flight');
});

test('a backend that resets an upload without an answer still gets the client a 502, not a hang', async (t) => {
  const address = await rawBackend(t, undefined);
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', address]));
  const reply = await bounded(uploadFast(port), 'the upload');
  assert.equal(reply.status, 502, `answer: ${reply.status} ${reply.body}`);
  assert.match(reply.body, /upstream connection reset/, 'the 502 names the reset');
  assert.equal(balancer.stats('web').inFlight, 0, 'requests left in flight');
});
