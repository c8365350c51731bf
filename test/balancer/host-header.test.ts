// Routes match the Host up to its first `:`; a Host that is not `host[:port]` must not reach a
// backend, or `app.example:@evil.example` passes a route for app.example and a backend's URL parser
// reads evil.example from it (RFC 9112 §3.2: 400).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { hostRefusal } from '../../src/balancer/target.js';
import { createMetrics } from '../../src/metrics/index.js';
import { sendRaw } from '../helpers/raw-http.js';
import { config, ready, startBackend } from './helpers.js';

test('a Host that is not host[:port] is a 400 and reaches no backend; host routes still match', async (t) => {
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(`${req.headers.host} ${req.headers['x-forwarded-host']}`);
    res.end('app');
  });
  const balancer = new Balancer({
    config: config(),
    metrics: createMetrics({ defaultMetrics: false }),
    routes: [{ host: 'app.example', group: 'web' }],
  });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const get = (host: string) =>
    sendRaw(port, `GET /reset HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, { keepOpen: true });

  // Before: routed to web as app.example; WHATWG URL on `http://${host}/` gives evil.example.
  assert.equal(new URL('http://app.example:@evil.example/').hostname, 'evil.example');
  for (const host of [
    'app.example:@evil.example',
    'app.example:80@evil.example',
    'app.example:8o',
    'app.example/x',
  ]) {
    const answer = await get(host);
    assert.equal(answer.status, 400, `Host ${host} must be refused, got ${answer.text}`);
  }
  assert.deepEqual(seen, [], 'no refused Host reached the backend');

  for (const host of ['app.example', 'APP.example:8080', 'app.example:']) {
    const answer = await get(host);
    assert.equal(answer.status, 200, `Host ${host} must be served, got ${answer.text}`);
  }
  assert.equal(seen.length, 3, `the valid Hosts reached the backend: ${seen.join('; ')}`);
});

test('hostRefusal: RFC 9110 uri-host [":" port]', () => {
  for (const host of [
    undefined,
    '',
    'a.example',
    'a.example:80',
    '127.0.0.1:8080',
    '[::1]:443',
    '[::1]',
    'xn--bcher-kva.example',
  ])
    assert.equal(hostRefusal(host), undefined, `${host} is a valid Host`);
  for (const host of ['a@b', 'a:1@b', 'a:x', 'a/b', 'a b', '[::1', 'a:1:2', 'a\\b'])
    assert.match(hostRefusal(host) ?? '', /is not a host\[:port\]/, `${host} must be refused`);
});
