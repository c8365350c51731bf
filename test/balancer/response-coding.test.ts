// A backend response whose transfer coding is more than `chunked`: the parser removes only the
// chunked framing, so relaying it would hand the client a still-gzipped body with no header saying
// so. It is a 502 on every path that relays a response (undici GET, node:http POST, a cache fill),
// as NGINX answers it; a plain chunked response still goes through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sendRaw } from '../helpers/raw-http.js';
import { cacheConfig } from './cache/helpers.js';
import { config, ready, startBackend, startBalancer } from './helpers.js';

const GET = 'GET /doc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
const POST = 'POST /doc HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody';

for (const cached of [false, true]) {
  test(`a backend's "Transfer-Encoding: gzip, chunked" is a 502, GET and POST${cached ? ', through the cache' : ''}; plain chunked is relayed`, async (t) => {
    const backend = await startBackend(t, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('Cache-Control', 'max-age=60');
        // node:http frames this chunked (the coding list ends in chunked) and sends the list as set.
        if (req.headers['x-plain'] === undefined) res.setHeader('Transfer-Encoding', 'gzip, chunked');
        if (req.headers['x-plain'] === undefined) res.end(gzipSync('hello'));
        else {
          res.write('hello');
          res.end();
        }
      });
    });
    const { balancer, port } = await startBalancer(t, config(cached ? { cache: cacheConfig() } : {}));
    balancer.setGroup('web', ready(['web-1', backend.address]));
    for (const [method, request] of [
      ['GET', GET],
      ['POST', POST],
    ]) {
      const answer = await sendRaw(port, request!, { keepOpen: true });
      assert.equal(
        answer.status,
        502,
        `${method}: a gzip transfer coding must not reach the client as a plain body, got ${JSON.stringify(answer.text)}`,
      );
    }
    const plain = await sendRaw(port, GET.replace('Host: a\r\n', 'Host: a\r\nX-Plain: 1\r\n'), {
      keepOpen: true,
    });
    assert.equal(plain.status, 200, `a plain chunked response is relayed, got ${JSON.stringify(plain.text)}`);
    assert.match(plain.text, /(\r\n5\r\nhello\r\n0\r\n\r\n|\r\n\r\nhello)$/, 'the body arrives whole');
  });
}

test('the same coding on a refused WebSocket handshake is a 502; a plain refusal is relayed', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    res.statusCode = 403;
    if (req.headers['x-plain'] === undefined) res.setHeader('Transfer-Encoding', 'gzip, chunked');
    res.end(req.headers['x-plain'] === undefined ? gzipSync('no') : 'no');
  });
  const { balancer, port } = await startBalancer(t, config());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const handshake =
    'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  const gzipped = await sendRaw(port, `${handshake}\r\n`, { keepOpen: true });
  assert.equal(
    gzipped.status,
    502,
    `a gzip coding must not be relayed as a plain body, got ${JSON.stringify(gzipped.text)}`,
  );
  const plain = await sendRaw(port, `${handshake}X-Plain: 1\r\n\r\n`, { keepOpen: true });
  assert.equal(plain.status, 403, `a plain refusal is relayed, got ${JSON.stringify(plain.text)}`);
  assert.match(plain.text, /\r\n\r\nno$/, 'with its body');
});
