// A response that breaks off after it started (the backend resets, the request times out mid-body)
// must not reach the client as a whole one. An HTTP/1.0 client gets a body without a length (it has
// no chunked framing), so only how the connection ends can tell it: a reset, not a clean close.
// Over raw TCP; the backend breaks off only once the client has read what came before, so the
// client's next read meets the reset (data still unread when a reset lands can hide it from libuv).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { until } from '../helpers/until.js';
import { startCached } from './cache/helpers.js';
import { config, counter, deferred, ready, startBackend, startBalancer } from './helpers.js';

/** Ending is how a raw client saw its connection end, and what it read before. */
interface Ending {
  how: string;
  text: string;
}

/** exchange sends `request` and reads until the connection ends; `onPartial` runs at the first body byte. */
async function exchange(port: number, request: string, onPartial: () => void): Promise<Ending> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(request);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    if (text.endsWith('partial')) onPartial();
  });
  const how = await new Promise<string>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
    socket.on('end', () => resolve('clean close'));
  });
  socket.destroy();
  return { how, text };
}

test('a backend reset mid-body reaches an HTTP/1.0 client as a reset, not as a whole response', async (t) => {
  let clientRead = deferred();
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    res.write('partial');
    void clientRead.promise.then(() => res.socket!.resetAndDestroy());
  });
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  // GET goes through the undici pool, POST through node:http.
  for (const method of ['GET', 'POST']) {
    clientRead = deferred();
    const request = `${method} / HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n`;
    const seen = await exchange(port, request, () => clientRead.resolve());
    assert.match(seen.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\npartial$/, `${method}: ${seen.text}`);
    assert.doesNotMatch(seen.text, /content-length|transfer-encoding/i, `${method}: no framing to tell by`);
    // Before: a clean close after "partial", which an HTTP/1.0 client takes for the whole body.
    assert.equal(seen.how, 'error ECONNRESET', `${method}: ${JSON.stringify(seen)}`);
  }
  // Counted once the balancer's side of each connection closed, which the client may see first.
  await until(() => balancer.stats('web').inFlight === 0, 5_000, 'both exchanges over');
  assert.equal(await counter(metrics.requests, { group: 'web', code: 'error' }), 2, 'both counted as failed');
  assert.equal(await counter(metrics.requests, { group: 'web', code: '2xx' }), 0, 'none counted as served');
});

test('a request timing out mid-body reaches an HTTP/1.0 client as a reset', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    req.resume();
    res.write('partial');
    // ...and nothing more, until the balancer gives up on it.
  });
  const { balancer, port } = await startBalancer(t, config({ requestTimeout: 500 }));
  balancer.setGroup('web', ready(['a', backend.address]));
  const seen = await exchange(port, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n', () => {});
  assert.match(seen.text, /\r\n\r\npartial$/, seen.text);
  assert.equal(seen.how, 'error ECONNRESET', JSON.stringify(seen));
});

test('a cache fill broken off mid-body reaches an HTTP/1.0 client as a reset, and is not stored', async (t) => {
  let clientRead = deferred();
  const { port } = await startCached(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'Cache-Control': 'max-age=60' });
    res.write('partial');
    void clientRead.promise.then(() => res.socket!.resetAndDestroy());
  });
  const seen = await exchange(port, 'GET /doc HTTP/1.0\r\nHost: x\r\n\r\n', () => clientRead.resolve());
  assert.match(seen.text, /\r\n\r\npartial$/, seen.text);
  // Before: a clean close after "partial".
  assert.equal(seen.how, 'error ECONNRESET', JSON.stringify(seen));
  // Nothing was stored: the next request goes to the backend again (and breaks the same way).
  clientRead = deferred();
  const again = await exchange(port, 'GET /doc HTTP/1.0\r\nHost: x\r\n\r\n', () => clientRead.resolve());
  assert.equal(again.how, 'error ECONNRESET', JSON.stringify(again));
});
