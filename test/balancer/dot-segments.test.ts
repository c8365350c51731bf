// Routes match a path prefix: a path with dot segments must be matched, and forwarded, as the
// path a backend resolves it to, or `/public/../admin` reaches a group through a route for `/public`.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { removeDotSegments } from '../../src/balancer/target.js';
import { createMetrics } from '../../src/metrics/index.js';
import { sendRaw } from '../helpers/raw-http.js';
import { config, ready, startBackend, type TestBackend } from './helpers.js';

async function recording(t: TestContext, name: string): Promise<{ backend: TestBackend; seen: string[] }> {
  const seen: string[] = [];
  const backend = await startBackend(t, (req, res) => {
    seen.push(req.url ?? '');
    res.end(name);
  });
  return { backend, seen };
}

test('a path with dot segments is routed and forwarded resolved; one climbing out or hidden behind %2f is 400', async (t) => {
  const pub = await recording(t, 'public');
  const admin = await recording(t, 'admin');
  // Only /public is exposed through this balancer's routes on the public group.
  const balancer = new Balancer({
    config: config(),
    metrics: createMetrics({ defaultMetrics: false }),
    routes: [
      { pathPrefix: '/public', group: 'public' },
      { pathPrefix: '/admin', group: 'admin' },
    ],
  });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  balancer.setGroup('public', ready(['p', pub.backend.address]));
  balancer.setGroup('admin', ready(['a', admin.backend.address]));
  const get = (target: string) =>
    sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n`, {
      keepOpen: true,
    });

  for (const target of [
    '/public/../admin/users',
    '/public/%2e%2E/admin/users',
    '/public/./.%2e/admin/users',
  ]) {
    const answer = await get(target);
    assert.match(
      answer.text,
      /\r\n\r\nadmin$/,
      `${target} must be routed as /admin/users, got ${answer.text}`,
    );
  }
  assert.deepEqual(pub.seen, [], 'the /public group must not see a path that resolves outside /public');
  assert.deepEqual(
    admin.seen,
    ['/admin/users', '/admin/users', '/admin/users'],
    'the backend gets the resolved path',
  );

  const kept = await get('/public/a/./b/../c?next=/../x');
  assert.equal(kept.status, 200, kept.text);
  assert.deepEqual(pub.seen, ['/public/a/c?next=/../x'], 'the path resolved, the query as sent');

  for (const target of [
    '/../public/x',
    '/public/..%2fadmin',
    '/public/..%5Cadmin',
    '/public/..\\admin',
    '/public/..;/admin',
    '/public/..;jsessionid=1/admin',
  ]) {
    const answer = await get(target);
    assert.equal(answer.status, 400, `${target} must be refused, got ${answer.text}`);
  }
  assert.equal(pub.seen.length + admin.seen.length, 4, 'no refused path reached a backend');
});

test('removeDotSegments: RFC 3986 5.2.4 on the path only', () => {
  const cases: [string, string][] = [
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a//../b', '/a/b'],
    ['/v1.2/file.txt', '/v1.2/file.txt'],
    ['/app;v=1.2/x', '/app;v=1.2/x'],
    ['/a/...', '/a/...'],
    ['/a/%2E/b?q=..', '/a/b?q=..'],
    ['*', '*'],
  ];
  for (const [url, want] of cases) {
    const req = { url };
    assert.equal(removeDotSegments(req), undefined, `${url} must not be refused`);
    assert.equal(req.url, want, `${url} resolves to ${want}`);
  }
  assert.match(removeDotSegments({ url: '/..' }) ?? '', /climbs above the root/, '/.. must be refused');
});
