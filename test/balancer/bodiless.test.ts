// Responses that carry no body whatever their headers say (RFC 9112 §6.3): a 304 to a conditional
// GET may carry the Content-Length of the representation it stands for (RFC 9110 §8.6, as ASP.NET
// and ReactPHP send), a HEAD response the Content-Length a GET would get. Through the balancer's
// GET/HEAD path (undici) and its node:http path, over raw sockets, on one kept-alive connection.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { sendRaw } from '../helpers/raw-http.js';
import { counter, ready, startBalancer } from './helpers.js';

/**
 * startRawBackend answers every request on a kept-alive connection with `answer(method, path)`,
 * written as is: a 304 or a HEAD response with a Content-Length and no body, as a server sends them.
 */
async function startRawBackend(
  t: TestContext,
  answer: (method: string, path: string) => string,
): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      for (let end = text.indexOf('\r\n\r\n'); end >= 0; end = text.indexOf('\r\n\r\n')) {
        const [method = '', path = ''] = text.slice(0, text.indexOf(' ', text.indexOf(' ') + 1)).split(' ');
        text = text.slice(end + 4);
        socket.write(answer(method, path));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const ETAG = '"v1"';

test('a 304 with the Content-Length of the representation reaches the client, and the connection goes on', async (t) => {
  const address = await startRawBackend(t, (method, path) =>
    path === '/page'
      ? `HTTP/1.1 304 Not Modified\r\nETag: ${ETAG}\r\nContent-Length: 42\r\n\r\n`
      : `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${method === 'HEAD' ? '' : 'ok'}`,
  );
  const { balancer, metrics, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', address]));
  const revalidate = (method: string) =>
    `${method} /page HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${ETAG}\r\nContent-Length: 0\r\n\r\n`;
  // GET goes through the undici pool, POST through node:http; then a plain GET on the same connection.
  for (const method of ['GET', 'POST']) {
    const answer = await sendRaw(
      port,
      `${revalidate(method)}GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      { keepOpen: true },
    );
    // Before, on GET: undici took the 304's Content-Length for a body that never came and broke the
    // response off ("response content length mismatch"): the client got no answer, its connection cut.
    assert.match(answer.text, /^HTTP\/1\.1 304 Not Modified\r\n/, `${method}: ${answer.text}`);
    assert.match(answer.text, new RegExp(`\r\nETag: ${ETAG}\r\n`), `${method}: ETag relayed`);
    const responses = answer.text.split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.equal(responses.length, 2, `${method}: two answers on one connection: ${answer.text}`);
    assert.match(responses[0]!, /\r\n\r\n$/, `${method}: the 304 has no body`);
    assert.match(responses[1]!, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/, `${method}: next request served`);
  }
  assert.equal(await counter(metrics.requests, { group: 'web', code: '3xx' }), 2, 'both 304s counted as 3xx');
  assert.equal(
    await counter(metrics.requests, { group: 'web', code: 'error' }),
    0,
    'no request counted as error',
  );
  assert.equal(
    await counter(metrics.upstreamErrors, { group: 'web', kind: 'other' }),
    0,
    'no upstream error',
  );
  assert.equal(balancer.stats('web').inFlight, 0);
});

test('a HEAD response with the Content-Length a GET would get reaches the client without a body', async (t) => {
  const address = await startRawBackend(t, () => 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', address]));
  const answer = await sendRaw(
    port,
    'HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    { keepOpen: true },
  );
  const responses = answer.text.split(/(?=HTTP\/1\.1 \d{3} )/);
  assert.equal(responses.length, 2, answer.text);
  for (const response of responses) {
    assert.match(response, /^HTTP\/1\.1 200 OK\r\n/, answer.text);
    assert.match(response, /\r\ncontent-length: 1000\r\n/i, answer.text);
    assert.match(response, /\r\n\r\n$/, 'no body');
  }
});
