// balancer.per_try_timeout (Envoy's retry_policy.per_try_timeout, NGINX's proxy_read_timeout with
// proxy_next_upstream timeout): a try that has no response headers by then is cut, counted as an
// upstream timeout, and retried on another instance where a reset before any response byte would
// be: an idempotent request, bodiless or with a body the balancer kept (up to REPLAY_BODY_LIMIT). Before, a hung instance (accepts, reads, never answers) cost
// a GET the whole request_timeout and a 504, though another instance would have answered it.
// Real HTTP backends on 127.0.0.1; a long request_timeout (20 s) so that only the per-try timeout
// can end a try within the test.
import assert from 'node:assert/strict';
import http from 'node:http';
import { type TestContext, test } from 'node:test';
import { REPLAY_BODY_LIMIT } from '../../src/balancer/index.js';
import type { ScaleplaneMetrics } from '../../src/metrics/index.js';
import { cacheConfig } from './cache/helpers.js';
import {
  config,
  counter,
  deferred,
  json,
  type Reply,
  ready,
  send,
  startBackend,
  startBalancer,
} from './helpers.js';

// Long enough that a loaded loop never cuts the live instance's answer; each hung try costs it.
const PER_TRY = 1000;

async function timeouts(metrics: ScaleplaneMetrics): Promise<number> {
  return counter(metrics.upstreamErrors, { group: 'web', kind: 'timeout' });
}

/** hungAndLive is a group of an instance that never answers (`hung`) and one that does (`live`). */
async function hungAndLive(t: TestContext, overrides: Parameters<typeof config>[0] = {}) {
  const hung = await startBackend(t, () => {});
  const live = await startBackend(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => res.end(body === '' ? `live ${req.method}` : `live ${req.method} ${body}`));
  });
  const started = await startBalancer(
    t,
    config({ algorithm: 'round-robin', requestTimeout: 20_000, perTryTimeout: PER_TRY, ...overrides }),
  );
  started.balancer.setGroup('web', ready(['hung', hung.address], ['live', live.address]));
  return { hung, live, ...started };
}

/**
 * untilCut sends `make()` until `cuts` tries were cut by the per-try timeout (only the hung
 * instance's are; round-robin picks it within 2 requests), and returns all replies.
 */
async function untilCut(metrics: ScaleplaneMetrics, make: () => Promise<Reply>, cuts = 1): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < 4 * cuts && (await timeouts(metrics)) < cuts; i++) replies.push(await make());
  assert.equal(
    await timeouts(metrics),
    cuts,
    `round-robin over 2 instances picked the hung one ${cuts} times in ${replies.length} requests (statuses ${replies.map((r) => r.status).join(', ')})`,
  );
  return replies;
}

for (const method of ['GET', 'HEAD', 'DELETE']) {
  // GET and HEAD go through the undici pools, DELETE through node:http's client.
  test(`a bodiless ${method} the hung instance had is retried on the live one after per_try_timeout`, async (t) => {
    const { live, metrics, port } = await hungAndLive(t);
    const replies = await untilCut(metrics, () => send(port, { method }));
    assert.deepEqual(
      replies.map((r) => r.status),
      replies.map(() => 200),
      `every ${method} is answered by live, those that went to hung first too (bodies: ${replies.map((r) => r.body.toString()).join(' | ')})`,
    );
    if (method !== 'HEAD') for (const r of replies) assert.equal(r.body.toString(), `live ${method}`);
    assert.equal(live.requests, replies.length, 'live answered each request once');
    assert.equal(await counter(metrics.retries, { group: 'web' }), 1, 'the cut try was retried once');
  });
}

test('a PUT with a body the hung instance had is retried, body and all, on the live one after per_try_timeout', async (t) => {
  const { live, metrics, port } = await hungAndLive(t);
  const replies = await untilCut(metrics, () => send(port, { method: 'PUT', body: 'x=1' }));
  // Before: 504, the body having streamed to the hung instance and been dropped.
  assert.deepEqual(
    replies.map((r) => `${r.status} ${r.body}`),
    replies.map(() => '200 live PUT x=1'),
    'every PUT answered by live with its body, those that went to hung first too',
  );
  assert.equal(live.requests, replies.length, 'live answered each request once');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1, 'the cut try was retried once');
});

for (const [name, options] of [
  ['POST with a body', { method: 'POST', body: 'order=1' }],
  ['POST without a body', { method: 'POST' }],
  ['PUT with a body over the kept limit', { method: 'PUT', body: 'x'.repeat(REPLAY_BODY_LIMIT + 1) }],
] as const) {
  test(`a ${name} is never retried after per_try_timeout: 504 from the hung instance`, async (t) => {
    const { live, metrics, port } = await hungAndLive(t);
    let liveBefore = 0;
    const replies = await untilCut(metrics, () => {
      liveBefore = live.requests;
      return send(port, options);
    });
    const last = replies.at(-1)!;
    assert.equal(last.status, 504, `the request the hung instance had: ${last.body.toString()}`);
    assert.deepEqual(json(last), { error: 'upstream timed out', group: 'web' });
    assert.equal(live.requests, liveBefore, 'it never reached the live instance');
    assert.equal(await counter(metrics.retries, { group: 'web' }), 0, 'no retry made');
    assert.deepEqual(
      replies.slice(0, -1).map((r) => r.status),
      replies.slice(0, -1).map(() => 200),
      'the others were answered by live',
    );
  });
}

test('a POST with an Idempotency-Key and no body is retried after per_try_timeout', async (t) => {
  const { metrics, port } = await hungAndLive(t);
  const replies = await untilCut(metrics, () =>
    send(port, { method: 'POST', headers: { 'idempotency-key': 'k-1' } }),
  );
  assert.deepEqual(
    replies.map((r) => r.status),
    replies.map(() => 200),
  );
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1);
});

test('a retry the budget refuses after per_try_timeout is a 504, counted as a budget overflow', async (t) => {
  // One retry in the budget's 10 s window: the first GET cut on hung retries on live, a later one
  // cut on hung is refused its retry.
  const { metrics, port } = await hungAndLive(t, { retryBudget: { percent: 0, minPerSecond: 0.1 } });
  const statuses = (await untilCut(metrics, () => send(port), 2)).map((r) => r.status);
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    [504],
    `the second GET cut on hung found the budget spent: ${statuses.join(', ')}`,
  );
  const overflows = metrics.retryOverflows;
  assert.equal(await counter(overflows, { group: 'web', reason: 'budget' }), 1);
  assert.equal(await counter(overflows, { group: 'web', reason: 'limit' }), 0);
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1);
});

test('a response whose headers came in time streams its body past per_try_timeout', async (t) => {
  const release = deferred();
  const slow = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('head ');
    release.promise.then(() => res.end('tail'));
  });
  const { balancer, metrics, port } = await startBalancer(
    t,
    config({ requestTimeout: 20_000, perTryTimeout: PER_TRY }),
  );
  balancer.setGroup('web', ready(['slow', slow.address]));
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, path: '/' }, (res) => {
      let got = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => {
        got += chunk;
        // The headers and the first chunk are in: hold the rest past three per-try timeouts.
        if (got === 'head ') setTimeout(() => release.resolve(), PER_TRY * 3);
      });
      res.on('end', () => resolve(got));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  assert.equal(body, 'head tail', 'the body was not cut');
  assert.equal(await timeouts(metrics), 0);
});

test('an HTTP cache fill the hung instance had is retried on the live one after per_try_timeout', async (t) => {
  // Fills go through the balancer's own origin client (origin.ts), not the proxied path.
  const { live, metrics, port } = await hungAndLive(t, { cache: cacheConfig() });
  let n = 0;
  // Each path once: every GET is a miss, filled from a backend.
  const replies = await untilCut(metrics, () => send(port, { path: `/doc/${n++}` }));
  assert.deepEqual(
    replies.map((r) => r.status),
    replies.map(() => 200),
    `every fill is answered by live (bodies: ${replies.map((r) => r.body.toString()).join(' | ')})`,
  );
  assert.equal(live.requests, replies.length, 'live answered each fill once');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1, 'the cut fill was retried once');
});
