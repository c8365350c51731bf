// A fill that fails (a 5xx, a failed connection) must not send every request waiting on it to the
// backend at once: one of them becomes the next fill (NGINX's proxy_cache_lock hands the lock to
// the next request; Varnish rushes one waiter after a failed fetch) and the rest wait on it, each
// at most `lock_timeout`. Through a real balancer to a real backend; the backend holds its answers
// until the requests it expects are waiting (or the herd is seen), so counts do not hang on timing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { until, within } from '../../helpers/until.js';
import { send } from '../helpers.js';
import { type Cached, clock, metricValue, startCached } from './helpers.js';

const N = 8;

const coalesced = (c: Cached) => metricValue(c.metrics, 'scaleplane_http_cache_coalesced_total');

describe('http cache: a failed fill', () => {
  test(`a 503 fill hands the fill to one of ${N - 1} waiters; the others are served what it stores`, async (t) => {
    const clk = clock();
    let inFlight = 0;
    let maxInFlight = 0;
    const c = await startCached(
      t,
      (_req, res) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const answer = (status: number, headers: Record<string, string>, body: string): void => {
          inFlight--;
          res.writeHead(status, { Date: clk.date(), ...headers });
          res.end(body);
        };
        if (c.backend.requests === 1) {
          // The first fill fails once every other request waits on it.
          const fail = () => answer(503, {}, 'down');
          until(async () => (await coalesced(c)) >= N - 1).then(fail, fail);
          return;
        }
        // The next fill answers once the rest wait on it again, or as soon as a second request is
        // in (the herd: each waiter went to the backend on its own).
        const up = () => answer(200, { 'Cache-Control': 'max-age=60' }, 'up');
        until(async () => (await coalesced(c)) >= 2 * N - 3 || c.backend.requests > 2).then(up, up);
      },
      {},
      { clock: clk },
    );
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/x' })));
    const statuses = replies.map((r) => `${r.status} ${r.headers['x-cache']} ${r.body.toString()}`).sort();
    assert.equal(c.backend.requests, 2, `one failed fill and one more for ${N} requests; seen ${statuses}`);
    assert.equal(maxInFlight, 1, `never two backend requests at once, saw ${maxInFlight}`);
    assert.deepEqual(
      statuses,
      [
        '200 HIT up',
        '200 HIT up',
        '200 HIT up',
        '200 HIT up',
        '200 HIT up',
        '200 HIT up',
        '200 MISS up',
        '503 MISS down',
      ],
      'the first got the 503, the next fill its answer, the others a HIT of it',
    );
  });

  test('a backend failing every fill gets one request at a time, each waiter its own answer', async (t) => {
    const clk = clock();
    let inFlight = 0;
    let maxInFlight = 0;
    const c = await startCached(
      t,
      (_req, res) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const seenAt = c.backend.requests;
        // Fill k answers once the N - k requests left wait on it (the coalesced count then sums those
        // rounds), or as soon as another request reached the backend.
        const waiting = seenAt * N - (seenAt * (seenAt + 1)) / 2;
        const fail = (): void => {
          inFlight--;
          res.writeHead(503, { Date: clk.date() });
          res.end(`down ${seenAt}`);
        };
        until(async () => (await coalesced(c)) >= waiting || inFlight > 1).then(fail, fail);
      },
      {},
      { clock: clk },
    );
    const replies = await Promise.all(Array.from({ length: N }, () => send(c.port, { path: '/y' })));
    assert.equal(maxInFlight, 1, `never two backend requests at once, saw ${maxInFlight}`);
    assert.equal(c.backend.requests, N, `one backend request per client, saw ${c.backend.requests}`);
    assert.deepEqual(
      replies.map((r) => r.body.toString()).sort(),
      Array.from({ length: N }, (_, i) => `down ${i + 1}`).sort(),
      'each client got the answer of its own request',
    );
  });

  test('a waiter goes to the backend itself past lock_timeout, not held by a fill that hangs', async (t) => {
    const clk = clock();
    let releaseFirst: (() => void) | undefined;
    const c = await startCached(
      t,
      (_req, res) => {
        if (c.backend.requests === 1) {
          releaseFirst = () => {
            releaseFirst = undefined;
            res.writeHead(200, { Date: clk.date(), 'Cache-Control': 'max-age=60' });
            res.end('slow fill');
          };
          return;
        }
        res.writeHead(200, { Date: clk.date() });
        res.end('own');
      },
      { lockTimeout: 200 },
      // The fill could take this long: the waiter is bounded by lock_timeout, not by it.
      { clock: clk, balancer: { requestTimeout: 60_000 } },
    );
    t.after(() => releaseFirst?.());
    const first = send(c.port, { path: '/slow' });
    await until(() => c.backend.requests === 1, 10_000, 'the fill reaching the backend');
    const waiter = await within(
      'the waiter answered while the fill hangs',
      10_000,
      send(c.port, { path: '/slow' }),
    );
    assert.equal(waiter.body.toString(), 'own', `the waiter got ${waiter.body.toString()}`);
    assert.equal(waiter.headers['x-cache'], 'MISS');
    assert.equal(await coalesced(c), 1, 'it waited on the fill first');
    releaseFirst?.();
    assert.equal((await first).body.toString(), 'slow fill');
    assert.equal(
      (await send(c.port, { path: '/slow' })).headers['x-cache'],
      'HIT',
      'the fill was stored; what the waiter got (no freshness) was not',
    );
  });
});
