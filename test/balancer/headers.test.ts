import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardRequestHeaders, forwardResponseHeaders } from '../../src/balancer/headers.js';
import { config, ready, send, startBackend, startBalancer } from './helpers.js';

function pairs(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) out.push(`${raw[i]}: ${raw[i + 1]}`);
  return out;
}

test('forwardRequestHeaders: strips hop-by-hop, sets X-Forwarded-*', () => {
  const cases: {
    name: string;
    raw: string[];
    remote?: string;
    want: string[];
    hasBody?: boolean;
    key?: boolean;
  }[] = [
    {
      name: 'plain',
      raw: ['Host', 'shop.example', 'Accept', '*/*'],
      remote: '10.1.1.1',
      want: [
        'Host: shop.example',
        'Accept: */*',
        'X-Forwarded-For: 10.1.1.1',
        'X-Real-IP: 10.1.1.1',
        'X-Forwarded-Proto: http',
        'X-Forwarded-Host: shop.example',
      ],
    },
    {
      name: 'hop-by-hop and Connection-named',
      raw: [
        'Host',
        'h',
        'Connection',
        'keep-alive, X-Secret',
        'Keep-Alive',
        'timeout=5',
        'X-Secret',
        's',
        'Proxy-Authorization',
        'Basic x',
        'Proxy-Connection',
        'keep-alive',
        'TE',
        'trailers',
        'Trailer',
        'X-T',
        'Upgrade',
        'h2c',
        'X-Keep',
        '1',
      ],
      remote: '10.1.1.1',
      want: [
        'Host: h',
        'X-Keep: 1',
        'X-Forwarded-For: 10.1.1.1',
        'X-Real-IP: 10.1.1.1',
        'X-Forwarded-Proto: http',
        'X-Forwarded-Host: h',
      ],
    },
    {
      name: 'X-Forwarded-For appended, client proto/host dropped',
      raw: [
        'Host',
        'h',
        'X-Forwarded-For',
        '1.1.1.1',
        'x-forwarded-for',
        '2.2.2.2',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'evil',
      ],
      remote: '10.1.1.1',
      want: [
        'Host: h',
        'X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.1.1.1',
        'X-Real-IP: 10.1.1.1',
        'X-Forwarded-Proto: http',
        'X-Forwarded-Host: h',
      ],
    },
    {
      name: "a client's X-Real-IP is replaced by the peer address, even named in Connection",
      raw: ['Host', 'h', 'X-Real-IP', '1.2.3.4', 'x-real-ip', '5.6.7.8', 'Connection', 'X-Real-IP'],
      remote: '10.1.1.1',
      want: [
        'Host: h',
        'X-Forwarded-For: 10.1.1.1',
        'X-Real-IP: 10.1.1.1',
        'X-Forwarded-Proto: http',
        'X-Forwarded-Host: h',
      ],
    },
    {
      name: "no peer address: the client's X-Real-IP is dropped all the same",
      raw: ['X-Real-IP', '1.2.3.4'],
      want: ['X-Forwarded-Proto: http'],
    },
    {
      name: 'Connection cannot strip Host, Content-Length or our own headers',
      raw: ['Host', 'h', 'Content-Length', '3', 'Connection', 'host, content-length, x-forwarded-for'],
      remote: '10.1.1.1',
      want: [
        'Host: h',
        'Content-Length: 3',
        'X-Forwarded-For: 10.1.1.1',
        'X-Real-IP: 10.1.1.1',
        'X-Forwarded-Proto: http',
        'X-Forwarded-Host: h',
      ],
      hasBody: true,
    },
    {
      name: 'chunked body re-framed',
      raw: ['Host', 'h', 'Transfer-Encoding', 'chunked'],
      want: ['Host: h', 'Transfer-Encoding: chunked', 'X-Forwarded-Proto: http', 'X-Forwarded-Host: h'],
      hasBody: true,
    },
    {
      // httpoxy: a CGI-style backend reads it as HTTP_PROXY, its outbound proxy.
      name: 'a Proxy header is dropped, whatever its case; Proxy-* as hop-by-hop',
      raw: [
        'Host',
        'h',
        'Proxy',
        'http://evil.example:8080',
        'PROXY',
        'x',
        'Proxy-Authorization',
        'Basic e',
        'Proxyish',
        'kept',
      ],
      want: ['Host: h', 'Proxyish: kept', 'X-Forwarded-Proto: http', 'X-Forwarded-Host: h'],
    },
    {
      name: 'zero length is no body; idempotency key noticed',
      raw: ['Content-Length', '0', 'Idempotency-Key', 'k1'],
      want: ['Content-Length: 0', 'Idempotency-Key: k1', 'X-Forwarded-Proto: http'],
      key: true,
    },
  ];
  for (const { name, raw, remote, want, hasBody = false, key = false } of cases) {
    const got = forwardRequestHeaders(raw, remote, 'http');
    // Every request leaves with exactly one X-Request-Id, last; its value is tested below.
    assert.deepEqual(pairs(got.headers), [...want, `X-Request-Id: ${got.requestId}`], name);
    assert.equal(got.hasBody, hasBody, `${name}: hasBody`);
    assert.equal(got.idempotencyKey, key, `${name}: idempotencyKey`);
  }
});

test('forwardRequestHeaders: X-Request-Id kept when plain, replaced when not, made when missing', () => {
  const kept = forwardRequestHeaders(
    ['X-Request-Id', 'abc-123', 'X-Request-Id', 'second'],
    undefined,
    'http',
  );
  assert.equal(kept.requestId, 'abc-123');
  assert.deepEqual(pairs(kept.headers), ['X-Forwarded-Proto: http', 'X-Request-Id: abc-123']);
  const forged = forwardRequestHeaders(['X-Request-Id', 'a\tb"c'], undefined, 'http');
  assert.match(forged.requestId, /^[0-9a-f-]{36}$/);
  const made = forwardRequestHeaders([], undefined, 'http');
  assert.match(made.requestId, /^[0-9a-f-]{36}$/);
  assert.notEqual(made.requestId, forged.requestId);
});

test('forwardResponseHeaders: strips hop-by-hop, keeps repeats and case', () => {
  const raw = [
    'Set-Cookie',
    'a=1',
    'Connection',
    'keep-alive, X-Internal',
    'Keep-Alive',
    'timeout=5',
    'X-Internal',
    'i',
    'Transfer-Encoding',
    'chunked',
    'Proxy-Authenticate',
    'Basic',
    'set-cookie',
    'b=2',
    'Content-Type',
    'text/plain',
  ];
  assert.deepEqual(pairs(forwardResponseHeaders(raw)), [
    'Set-Cookie: a=1',
    'set-cookie: b=2',
    'Content-Type: text/plain',
  ]);
});

test('a client Proxy header reaches no backend (httpoxy), over undici (GET) and node:http (POST)', async (t) => {
  const seen: (string | string[] | undefined)[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(req.headers.proxy);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const { balancer, port } = await startBalancer(t, config());
  balancer.setGroup('web', ready(['a', backend.address]));
  const headers = { proxy: 'http://evil.example:8080' };
  assert.equal((await send(port, { headers })).status, 200);
  assert.equal((await send(port, { method: 'POST', headers, body: 'x' })).status, 200);
  assert.deepEqual(seen, [undefined, undefined], 'the backend saw no Proxy header');
});
