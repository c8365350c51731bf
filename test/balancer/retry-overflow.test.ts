// A retry the budget or the retry limit refuses is counted in scaleplane_retry_overflows_total{group}
// (Envoy's upstream_rq_retry_overflow). Before, it was only logged, so nothing could alert on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RetryInput, retryDecision, retryOverflowed } from '../../src/balancer/index.js';
import type { ScaleplaneMetrics } from '../../src/metrics/index.js';
import { config, counter, ready, refusedAddress, send, startBackend, startBalancer } from './helpers.js';

const OVERFLOWS = 'scaleplane_retry_overflows_total';

async function overflows(metrics: ScaleplaneMetrics, group: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(OVERFLOWS);
  assert.ok(metric !== undefined, `${OVERFLOWS} is not on the balancer's registry`);
  return counter(metric as Parameters<typeof counter>[0], { group });
}

test('a retry the budget refuses counts once per refused request', async (t) => {
  const dead = await refusedAddress();
  const live = await startBackend(t, (_req, res) => res.end('live'));
  // A budget of one retry in its 10 s window: the first request picked onto `dead` retries on
  // `live`, the later ones picked onto `dead` are refused their retry and answered 502.
  const { balancer, metrics, port } = await startBalancer(
    t,
    config({ algorithm: 'round-robin', retryBudget: { percent: 0, minPerSecond: 0.1 } }),
  );
  balancer.setGroup('web', ready(['dead', dead], ['live', live.address]));
  const before = await overflows(metrics, 'web');
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await send(port)).status);
  const refused = statuses.filter((s) => s === 502).length;
  assert.ok(
    statuses.every((s) => s === 200 || s === 502),
    `only answers from live (200) or refused retries (502) expected, got ${statuses.join(', ')}`,
  );
  assert.ok(
    refused >= 1,
    `round-robin put 3 of 6 requests on dead with one retry budgeted, yet none was refused: ${statuses.join(', ')}`,
  );
  assert.equal(
    (await overflows(metrics, 'web')) - before,
    refused,
    `each of the ${refused} requests answered 502 was a retry the budget refused (statuses ${statuses.join(', ')})`,
  );
});

test('retries the budget allows leave the overflow counter at 0', async (t) => {
  const dead = await refusedAddress();
  const live = await startBackend(t, (_req, res) => res.end('live'));
  // The helpers' budget (1000 a second) allows every retry.
  const { balancer, metrics, port } = await startBalancer(t, config({ algorithm: 'round-robin' }));
  balancer.setGroup('web', ready(['dead', dead], ['live', live.address]));
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await send(port)).status);
  assert.deepEqual(
    statuses,
    [200, 200, 200, 200, 200, 200],
    'every request picked onto dead is retried on live',
  );
  const retried = await counter(metrics.retries, { group: 'web' });
  assert.ok(retried >= 1, `round-robin put some of 6 requests on dead, yet ${retried} retries were made`);
  assert.equal(await overflows(metrics, 'web'), 0, 'no retry was refused, so none overflowed');
});

const base: RetryInput = {
  method: 'GET',
  failure: 'connect',
  reusedSocket: false,
  hasBody: false,
  bodyStarted: false,
  responseStarted: false,
  idempotencyKey: false,
  retries: 0,
  maxRetries: 2,
};

test('retryOverflowed: only a retry that was otherwise safe overflows', () => {
  const cases: { name: string; input: Partial<RetryInput>; overflowed: boolean }[] = [
    { name: 'retried', input: {}, overflowed: false },
    { name: 'budget spent', input: { budgetAvailable: () => false }, overflowed: true },
    { name: 'limit reached on a connect failure', input: { retries: 2 }, overflowed: true },
    {
      name: 'limit reached on a stale GET',
      input: { failure: 'reset', reusedSocket: true, retries: 2 },
      overflowed: true,
    },
    {
      name: 'limit reached on a fresh POST reset',
      input: { method: 'POST', failure: 'reset', retries: 2 },
      overflowed: false,
    },
    {
      name: 'limit reached after a response started',
      input: { responseStarted: true, retries: 2 },
      overflowed: false,
    },
    { name: 'limit reached on a timeout', input: { failure: 'timeout', retries: 2 }, overflowed: false },
    {
      name: 'fresh POST reset within the budget',
      input: { method: 'POST', failure: 'reset' },
      overflowed: false,
    },
    {
      name: 'not retriable, budget spent',
      input: { failure: 'timeout', budgetAvailable: () => false },
      overflowed: false,
    },
  ];
  for (const c of cases) {
    const input = { ...base, ...c.input };
    const decision = retryDecision(input);
    assert.equal(retryOverflowed(input, decision), c.overflowed, `${c.name} (${decision.reason})`);
  }
});
