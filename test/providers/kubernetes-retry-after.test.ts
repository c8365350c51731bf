// A request the API server refuses unprocessed with 429 and a Retry-After (API Priority and
// Fairness under load) is sent again once that time has passed, as client-go does, instead of
// failing the scale. Against KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { retryAfterMs } from '../../src/providers/kubernetes/index.js';
import { webOnKube } from './kube-server.js';

const SCALE = '/apis/apps/v1/namespaces/shop/deployments/web/scale';

it('a scale refused with 429 and Retry-After: 1 is sent again a second later and goes through', async (t) => {
  let throttled = 2;
  const { server, provider } = await webOnKube(t, 1, {
    arrange: (s) => {
      s.throttle = (method, path) =>
        method === 'PATCH' && path === SCALE && throttled-- > 0 ? 1 : undefined;
    },
  });
  await provider.start();
  await provider.scaleTo(2);
  const patches = server.requests
    .map((r, i) => ({ r, at: server.arrivals[i]! }))
    .filter(({ r }) => r.method === 'PATCH' && r.path === SCALE);
  assert.equal(
    patches.length,
    3,
    `the scale PATCH is sent 3 times (2 refused with 429), not ${patches.length}`,
  );
  for (let i = 1; i < patches.length; i++) {
    const gap = patches[i]!.at - patches[i - 1]!.at;
    assert.ok(gap >= 950, `sent again ${gap} ms after a 429 whose Retry-After said 1 s`);
  }
  assert.equal(server.workloads.get('shop/web')!.object.spec.replicas, 2);
  assert.equal(provider.desired(), 2);
});

it('a request still refused after 5 retries fails naming the 429 and the retries', async (t) => {
  const { server, provider } = await webOnKube(t, 1, {
    arrange: (s) => {
      s.throttle = (method, path) => (method === 'PATCH' && path === SCALE ? 0 : undefined);
    },
  });
  await provider.start();
  await assert.rejects(provider.scaleTo(2), (err: Error) => {
    assert.match(
      err.message,
      /patch scale failed: 429 TooManyRequests: Too many requests, please try again later\. \(sent 6 times, as Retry-After asked\)/,
    );
    return true;
  });
  const patches = server.requests.filter((r) => r.method === 'PATCH' && r.path === SCALE).length;
  assert.equal(patches, 6, 'sent once and retried 5 times, no more');
  assert.equal(provider.desired(), 1, 'desired stays as it was after a scale that failed');
});

it('retryAfterMs reads Retry-After on a 429 or 5xx only, as delta-seconds', () => {
  const e = (code: number, headers: Record<string, string>) => ({ code, headers });
  assert.equal(retryAfterMs(e(429, { 'retry-after': '2' })), 2000);
  assert.equal(retryAfterMs(e(503, { 'retry-after': '1' })), 1000);
  assert.equal(retryAfterMs(e(429, {})), undefined, 'no header: not retried (a budget has its own path)');
  assert.equal(retryAfterMs(e(403, { 'retry-after': '1' })), undefined, 'a 403 is no throttling');
  assert.equal(retryAfterMs(e(429, { 'retry-after': 'soon' })), undefined);
  assert.equal(retryAfterMs(new Error('socket hang up')), undefined);
});
