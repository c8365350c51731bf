// Requests the balancer answers itself rather than forward, over raw sockets: two Host lines (RFC
// 9112 §3.2 asks for 400: routing reads the first, a backend may act on another), and CONNECT
// (this is no forward proxy: 405, as NGINX answers, instead of a connection closed without a word).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendRaw } from '../helpers/raw-http.js';
import { ready, startBackend, startBalancer } from './helpers.js';

test('a request with two Host lines gets 400 and reaches no backend, on GET and POST alike', async (t) => {
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    const hosts = req.rawHeaders.filter(
      (_, i) => i % 2 === 1 && req.rawHeaders[i - 1]!.toLowerCase() === 'host',
    );
    seen.push(`${req.method} host=${hosts.join('|')}`);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  for (const request of [
    'POST / HTTP/1.1\r\nHost: public.example\r\nhost: admin.internal\r\nContent-Length: 2\r\n\r\nhi',
    'GET / HTTP/1.1\r\nHost: public.example\r\nHost: admin.internal\r\n\r\n',
    // The absolute form's authority replaces Host, but the message still had two Host lines.
    'GET http://public.example/ HTTP/1.1\r\nHost: public.example\r\nHost: admin.internal\r\n\r\n',
  ]) {
    const answer = await sendRaw(port, request, { keepOpen: true });
    // Before: the POST reached the backend carrying both (routed by the first), the GETs got
    // undici's refusal as "request cannot be forwarded".
    assert.equal(answer.status, 400, answer.text);
    assert.match(answer.text, /\{"error":"more than one Host header"\}$/, answer.text);
    assert.ok(answer.closed, 'the connection is closed');
  }
  assert.deepEqual(seen, []);
  const one = await sendRaw(
    port,
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
    {
      keepOpen: true,
    },
  );
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(seen, ['POST host=a']);
});

test('CONNECT gets 405 with a JSON body, and the connection is closed', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const answer = await sendRaw(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', {
    keepOpen: true,
  });
  // Before: no response at all, the connection closed.
  assert.equal(answer.status, 405, `answer: ${JSON.stringify(answer.text)}`);
  assert.match(answer.text, /\r\nContent-Type: application\/json\r\n/);
  assert.match(answer.text, /\{"error":"CONNECT is not supported"\}$/);
  assert.ok(answer.closed, 'the connection is closed');
  assert.equal(backend.requests, 0);
});
