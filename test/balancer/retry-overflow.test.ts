// A retry the budget or the retry limit refuses is counted in
// scaleplane_retry_overflows_total{group,reason}: reason="budget" for a spent retry budget (Envoy's
// upstream_rq_retry_overflow), reason="limit" for a request that used its retries (Envoy's
// upstream_rq_retry_limit_exceeded). Before, it was only logged, so nothing could alert on it; then
// one series counted both, so a retry storm read the same as a request failing on every instance.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RetryInput, retryDecision, retryOverflow, retryOverflowed } from '../../src/balancer/index.js';
import type { ScaleplaneMetrics } from '../../src/metrics/index.js';
import { config, counter, ready, refusedAddress, send, startBackend, startBalancer } from './helpers.js';

const OVERFLOWS = 'scaleplane_retry_overflows_total';

/** overflows reads the group's overflows of `reason`, or of both reasons summed (the series' old meaning). */
async function overflows(
  metrics: ScaleplaneMetrics,
  group: string,
  reason?: 'budget' | 'limit',
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(OVERFLOWS);
  assert.ok(metric !== undefined, `${OVERFLOWS} is not on the balancer's registry`);
  if (reason !== undefined) return counter(metric as Parameters<typeof counter>[0], { group, reason });
  const { values } = await (metric as Parameters<typeof counter>[0]).get();
  return values.filter((v) => v.labels.group === group).reduce((sum, v) => sum + v.value, 0);
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
  assert.equal(await overflows(metrics, 'web', 'budget'), refused, 'each counted as reason="budget"');
  assert.equal(await overflows(metrics, 'web', 'limit'), 0, 'no request reached the retry limit');
});

test('a request that used its 2 retries is counted as reason="limit", not "budget"', async (t) => {
  // Three refusing instances: the first try and both retries fail, and the third failure, which
  // would be retried under the limit, is refused by it. Two are not enough: after the second the
  // group has no instance left to try, which is no overflow.
  const dead = [await refusedAddress(), await refusedAddress(), await refusedAddress()];
  const { balancer, metrics, port } = await startBalancer(t, config({ algorithm: 'round-robin' }));
  balancer.setGroup('web', ready(['a', dead[0]!], ['b', dead[1]!], ['c', dead[2]!]));
  const { status } = await send(port);
  assert.equal(status, 502, 'no instance answered');
  assert.equal(await counter(metrics.retries, { group: 'web' }), 2, 'both retries were made');
  assert.equal(await overflows(metrics, 'web', 'limit'), 1, 'the third failure hit the retry limit');
  assert.equal(await overflows(metrics, 'web', 'budget'), 0, 'the budget (1000 a second) had room');
});

test('two refusing instances: no instance left is no overflow of either kind', async (t) => {
  const dead = [await refusedAddress(), await refusedAddress()];
  const { balancer, metrics, port } = await startBalancer(t, config({ algorithm: 'round-robin' }));
  balancer.setGroup('web', ready(['a', dead[0]!], ['b', dead[1]!]));
  assert.equal((await send(port)).status, 502);
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1);
  assert.equal(await overflows(metrics, 'web'), 0);
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

test('retryOverflow: budget and limit told apart', () => {
  const cases: { name: string; input: Partial<RetryInput>; reason: 'budget' | 'limit' | undefined }[] = [
    { name: 'retried', input: {}, reason: undefined },
    { name: 'budget spent', input: { budgetAvailable: () => false }, reason: 'budget' },
    { name: 'limit reached on a connect failure', input: { retries: 2 }, reason: 'limit' },
    // The limit is asked first: a request at its limit spends no budget and is a limit overflow.
    {
      name: 'limit reached, budget spent too',
      input: { retries: 2, budgetAvailable: () => false },
      reason: 'limit',
    },
    {
      name: 'limit reached on a per-try timeout',
      input: { failure: 'timeout', perTryTimeout: true, retries: 2 },
      reason: 'limit',
    },
    {
      name: 'budget spent on a per-try timeout',
      input: { failure: 'timeout', perTryTimeout: true, budgetAvailable: () => false },
      reason: 'budget',
    },
    { name: 'limit reached on a timeout', input: { failure: 'timeout', retries: 2 }, reason: undefined },
    {
      name: 'POST cut by the per-try timeout at the limit',
      input: { method: 'POST', failure: 'timeout', perTryTimeout: true, retries: 2 },
      reason: undefined,
    },
  ];
  for (const c of cases) {
    const input = { ...base, ...c.input };
    const decision = retryDecision(input);
    assert.equal(retryOverflow(input, decision), c.reason, `${c.name} (${decision.reason})`);
  }
});
