// A pods watch the API server ends at its timeoutSeconds is resumed from the last resourceVersion
// seen, as client-go's reflector does, not answered with a fresh list of every pod. Against
// KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { until } from '../helpers/until.js';
import { webOnKube } from './kube-server.js';

it('a pods watch that ended at its timeoutSeconds resumes from the last resourceVersion: no new list, no event missed', {
  timeout: 30_000,
}, async (t) => {
  // The fake ends each watch after 1 s, as the API server does at timeoutSeconds.
  const { server, provider } = await webOnKube(t, 2, { options: { watchTimeout: 1000 } });
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 2,
    5000,
    '2 Ready pods',
  );
  const podRequests = () => server.requests.filter((r) => r.path === '/api/v1/namespaces/shop/pods');
  const lists = () => podRequests().filter((r) => r.query.watch !== 'true');
  const watches = () => podRequests().filter((r) => r.query.watch === 'true');
  assert.equal(lists().length, 1, 'listed once at start');
  await until(() => watches().length >= 3, 10_000, 'the pods watch ended and was opened twice more');
  const rvs = watches().map((r) => r.query.resourceVersion);
  t.diagnostic(
    `lists: ${lists().length}, watches: ${watches().length}, from resourceVersions ${rvs.join(', ')}`,
  );
  // Before: a list of every pod before each new watch (3 lists for 3 watches).
  assert.equal(
    lists().length,
    1,
    `no list after a clean end: ${lists().length} lists for ${watches().length} watches`,
  );
  assert.ok(
    rvs.every((rv) => rv !== undefined && Number(rv) > 0),
    `each watch resumes from a resourceVersion: ${rvs.join(', ')}`,
  );
  // The resumed watch still delivers: a scale's pods appear and become Ready.
  await provider.scaleTo(4);
  assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 4);
});

it('a resumed pods watch whose resourceVersion was compacted away (410 Gone) lists again', async (t) => {
  const notes: string[] = [];
  const { server, provider } = await webOnKube(t, 1, {
    options: { logger: { info: (_f, msg) => notes.push(msg), warn() {}, error() {} } },
  });
  await provider.start();
  const lists = () =>
    server.requests.filter((r) => r.path === '/api/v1/namespaces/shop/pods' && r.query.watch !== 'true');
  assert.equal(lists().length, 1, 'listed once at start');
  server.compact();
  await until(() => lists().length === 2, 5000, 'a fresh list after 410 Gone');
  assert.ok(
    notes.includes('Deployment shop/web: pods watch expired (410 Gone); listing again'),
    notes.join('\n'),
  );
  await provider.scaleTo(2);
  assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 2);
});
