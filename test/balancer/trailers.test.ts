// HTTP/1.1 trailers (RFC 9112 §7.1.2, RFC 9110 §6.5) through the balancer, both ways, against real
// node:http backends and clients: a chunked request's trailer fields reach the backend, a chunked
// response's reach the client, with their `Trailer` declaration; hop-by-hop and framing fields in a
// trailer section are not passed on; and where the client's response cannot carry trailers
// (HTTP/1.0, HEAD) the response is still served, without them.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { sendRaw } from '../helpers/raw-http.js';
import { ready, startBackend, startBalancer } from './helpers.js';

/** ClientReply is a response as node:http's client saw it, trailers included. */
interface ClientReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  trailers: NodeJS.Dict<string>;
  body: string;
}

/** request sends `method path` (a chunked body with `trailers` when `body` is given) and reads the answer. */
function request(
  port: number,
  method: string,
  path: string,
  body?: { chunks: string[]; trailers: Record<string, string> },
): Promise<ClientReply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders =
      body === undefined
        ? {}
        : { 'Transfer-Encoding': 'chunked', Trailer: Object.keys(body.trailers).join(', ') };
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, trailers: res.trailers, body: text }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) {
      for (const chunk of body.chunks) req.write(chunk);
      req.addTrailers(body.trailers);
    }
    req.end();
  });
}

test('trailers of a chunked request reach the backend, with its Trailer declaration (POST, node:http path)', async (t) => {
  let seen: { trailer: string | undefined; trailers: NodeJS.Dict<string>; body: string } | undefined;
  const backend = await startBackend(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      seen = { trailer: req.headers.trailer, trailers: req.trailers, body };
      res.end('stored');
    });
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));

  const reply = await request(port, 'POST', '/upload', {
    chunks: ['hello ', 'world'],
    trailers: { 'X-Checksum': 'sha256=abc', 'X-Row-Count': '2' },
  });
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'stored');
  // Before: the body arrived, but not a trailer field nor the Trailer header.
  assert.deepEqual(seen, {
    trailer: 'X-Checksum, X-Row-Count',
    trailers: { 'x-checksum': 'sha256=abc', 'x-row-count': '2' },
    body: 'hello world',
  });
});

test('trailers of a chunked response reach the client, on GET (undici path) and POST (node:http path)', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'Server-Timing, X-Digest' });
      res.write(`${req.method} `);
      res.write('body');
      res.addTrailers({ 'Server-Timing': 'db;dur=53', 'X-Digest': 'crc32=1234' });
      res.end();
    });
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));

  for (const method of ['GET', 'POST']) {
    const reply = await request(
      port,
      method,
      '/report',
      method === 'POST' ? { chunks: ['x'], trailers: {} } : undefined,
    );
    assert.equal(reply.status, 200, method);
    assert.equal(reply.body, `${method} body`, method);
    // Before: the body arrived whole, without the trailer fields or their declaration.
    assert.equal(reply.headers.trailer, 'Server-Timing, X-Digest', `${method}: Trailer header`);
    assert.deepEqual(
      reply.trailers,
      { 'server-timing': 'db;dur=53', 'x-digest': 'crc32=1234' },
      `${method}: trailers`,
    );
  }
});

test('hop-by-hop and framing fields in a trailer section are not passed on, either way', async (t) => {
  let seenTrailers: NodeJS.Dict<string> | undefined;
  // Raw backend answers, so the response's trailer section can hold what node:http would not write.
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      seenTrailers = req.trailers;
      res.socket!.end(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
          '2\r\nok\r\n0\r\nX-Kept: 1\r\nConnection: close\r\nKeep-Alive: timeout=1\r\n' +
          'Proxy-Status: x\r\nHost: evil\r\n\r\n',
      );
    });
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const answer = await sendRaw(
    port,
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      '2\r\nhi\r\n0\r\nX-Sum: 7\r\nKeep-Alive: timeout=9\r\nProxy-Authorization: Basic eA==\r\nHost: evil\r\n' +
      'TE: trailers\r\n\r\n',
    { keepOpen: true },
  );
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(seenTrailers, { 'x-sum': '7' });
  const trailerSection = (text: string) => text.slice(text.indexOf('\r\n0\r\n') + 5);
  assert.equal(trailerSection(answer.text), 'X-Kept: 1\r\n\r\n', `to the client: ${answer.text}`);
  // The same response to a GET, which goes through the undici pool.
  const get = await sendRaw(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
    keepOpen: true,
  });
  assert.equal(trailerSection(get.text), 'X-Kept: 1\r\n\r\n', `to the client (GET): ${get.text}`);
});

test('a client whose response cannot carry trailers (HTTP/1.0, HEAD) is served without them', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    // A HEAD answered as a GET would be, Trailer declaration included (RFC 9110 §9.3.2).
    res.socket!.write(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Digest\r\nConnection: close\r\n\r\n',
    );
    res.socket!.end(req.method === 'HEAD' ? '' : '4\r\nbody\r\n0\r\nX-Digest: 1\r\n\r\n');
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));

  // HTTP/1.0 has no chunked framing: the body is close-delimited and there is nowhere for trailers.
  const old = await sendRaw(port, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n', { keepOpen: true });
  assert.equal(old.status, 200, old.text);
  assert.match(old.text, /\r\n\r\nbody$/);
  assert.doesNotMatch(old.text, /X-Digest|Trailer/i);
  const head = await sendRaw(port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
    keepOpen: true,
  });
  assert.equal(head.status, 200, head.text);
  assert.doesNotMatch(head.text, /X-Digest/i);
  assert.equal(balancer.stats('web').inFlight, 0);
});

test('a client that says TE: trailers gets a backend that sends trailers only then (gRPC-style) its trailers; TE goes on as `trailers` alone', async (t) => {
  const seenTe: (string | undefined)[] = [];
  // Like gRPC servers: trailer fields only for a client that declared it accepts them (RFC 9110 §10.1.4).
  const backend = await startBackend(t, (req, res) => {
    const te = req.headers.te === undefined ? undefined : String(req.headers.te);
    seenTe.push(te);
    req.resume();
    req.on('end', () => {
      const accepts = (te ?? '').split(',').some((token) => token.trim() === 'trailers');
      res.writeHead(200, accepts ? { Trailer: 'Grpc-Status' } : {});
      res.write('payload');
      if (accepts) res.addTrailers({ 'Grpc-Status': '0' });
      res.end();
    });
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));

  const ask = (method: string, te: string | undefined) =>
    new Promise<ClientReply>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: '/rpc',
          agent: false,
          headers: {
            ...(te !== undefined && { TE: te }),
            ...(method === 'POST' && { 'Transfer-Encoding': 'chunked' }),
          },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode!, headers: res.headers, trailers: res.trailers, body }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(method === 'POST' ? 'request' : undefined);
    });

  for (const method of ['GET', 'POST']) {
    seenTe.length = 0;
    const reply = await ask(method, 'trailers, deflate;q=0.5');
    assert.equal(reply.status, 200, method);
    assert.equal(reply.body, 'payload', method);
    // Before: TE was stripped as hop-by-hop, so the backend never sent its trailers.
    assert.deepEqual(seenTe, ['trailers'], `${method}: TE as the backend saw it`);
    assert.deepEqual(reply.trailers, { 'grpc-status': '0' }, `${method}: trailers the client got`);
    // A client that did not ask for trailers is not said to accept them.
    seenTe.length = 0;
    const plain = await ask(method, undefined);
    assert.deepEqual(seenTe, [undefined], `${method}: TE without the client's`);
    assert.deepEqual(plain.trailers, {}, `${method}: no trailers unasked`);
    // A TE without `trailers` (codings only) is not passed on at all.
    seenTe.length = 0;
    await ask(method, 'gzip');
    assert.deepEqual(seenTe, [undefined], `${method}: TE of codings only`);
  }
});

test('TE: trailers is not passed on for a client whose response cannot carry trailers (HTTP/1.0)', async (t) => {
  const seenTe: (string | undefined)[] = [];
  const backend = await startBackend(t, (req, res) => {
    seenTe.push(req.headers.te === undefined ? undefined : String(req.headers.te));
    res.end('ok');
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const answer = await sendRaw(port, 'GET / HTTP/1.0\r\nHost: x\r\nTE: trailers\r\n\r\n', { keepOpen: true });
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(seenTe, [undefined], 'TE as the backend saw it');
});
