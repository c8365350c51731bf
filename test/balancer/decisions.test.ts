// Table tests of the balancer's pure decisions: outlier detection, panic, retry budget, slow start,
// Maglev and hash-key parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BalancerError,
  buildMaglevTable,
  countOutcome,
  ejectionDecision,
  inPanic,
  maxEjectable,
  type OutlierOutcome,
  parseHashKey,
  RetryBudget,
  retryBudgetAllows,
  retryDecision,
  slowStartWeight,
} from '../../src/balancer/index.js';
import type { OutlierConfig } from '../../src/config/types.js';

const outlier: OutlierConfig = {
  consecutive5xx: 3,
  consecutiveGatewayErrors: 2,
  baseEjectionTime: 1000,
  maxEjectionTime: 5000,
  maxEjectionPercent: 50,
  panicThreshold: 50,
};

test('countOutcome: runs of failures trip, a success resets', () => {
  const cases: { name: string; seq: OutlierOutcome[]; want: string }[] = [
    { name: 'gateway twice', seq: ['gateway', 'gateway'], want: '-,ConsecutiveGatewayErrors' },
    { name: '5xx three times', seq: ['5xx', '5xx', '5xx'], want: '-,-,Consecutive5xx' },
    { name: 'success in between', seq: ['5xx', '5xx', 'success', '5xx', '5xx'], want: '-,-,-,-,-' },
    { name: 'gateway counts as 5xx too', seq: ['5xx', 'gateway', '5xx'], want: '-,-,Consecutive5xx' },
    { name: '5xx breaks a gateway run', seq: ['gateway', '5xx', 'gateway'], want: '-,-,Consecutive5xx' },
  ];
  for (const { name, seq, want } of cases) {
    const counters = { consecutive5xx: 0, consecutiveGateway: 0 };
    const got = seq.map((o) => countOutcome(counters, o, outlier) ?? '-');
    assert.equal(got.join(','), want, name);
  }
  const off = { consecutive5xx: 0, consecutiveGatewayErrors: 0 };
  const counters = { consecutive5xx: 0, consecutiveGateway: 0 };
  for (let i = 0; i < 100; i++) assert.equal(countOutcome(counters, 'gateway', off), undefined);
});

test('ejectionDecision: growing time, capped, max percent, fresh start after a long good run', () => {
  const base = { total: 4, ejected: 0, previousEjections: 0, lastRecovery: undefined, now: 10_000 };
  const cases = [
    { name: 'first', input: base, want: { eject: true, reason: 'Ejected', ejections: 1, duration: 1000 } },
    {
      name: 'third',
      input: { ...base, previousEjections: 2, lastRecovery: 9000 },
      want: { eject: true, reason: 'Ejected', ejections: 3, duration: 3000 },
    },
    {
      name: 'capped',
      input: { ...base, previousEjections: 9, lastRecovery: 9000 },
      want: { eject: true, reason: 'Ejected', ejections: 10, duration: 5000 },
    },
    {
      name: 'count starts over after maxEjectionTime in rotation',
      input: { ...base, previousEjections: 4, lastRecovery: 5000 },
      want: { eject: true, reason: 'Ejected', ejections: 1, duration: 1000 },
    },
    {
      name: '2 of 4 out already (50%)',
      input: { ...base, ejected: 2 },
      want: { eject: false, reason: 'MaxEjectionPercent', ejections: 0, duration: 0 },
    },
    {
      name: '1 of 4 out: a second may go',
      input: { ...base, ejected: 1 },
      want: { eject: true, reason: 'Ejected', ejections: 1, duration: 1000 },
    },
    {
      name: 'single instance may be ejected (at least one)',
      input: { ...base, total: 1 },
      want: { eject: true, reason: 'Ejected', ejections: 1, duration: 1000 },
    },
  ];
  for (const { name, input, want } of cases) assert.deepEqual(ejectionDecision(input, outlier), want, name);
  assert.equal(maxEjectable(10, 10), 1);
  assert.equal(maxEjectable(3, 0), 1);
  assert.equal(maxEjectable(10, 35), 3);
});

test('inPanic: below the threshold share of usable instances', () => {
  const cases: [usable: number, total: number, threshold: number, want: boolean][] = [
    [1, 2, 50, false],
    [0, 2, 50, true],
    [1, 3, 50, true],
    [2, 3, 50, false],
    [0, 0, 50, false],
    [0, 4, 0, false],
  ];
  for (const [u, n, p, want] of cases) assert.equal(inPanic(u, n, p), want, `${u}/${n} at ${p}%`);
});

test('retry budget: percent of requests plus a floor, over a sliding 10 s window', () => {
  const config = { percent: 20, minPerSecond: 0.5 };
  assert.equal(retryBudgetAllows(0, 4, config), true); // floor: 5 per window
  assert.equal(retryBudgetAllows(0, 5, config), false);
  assert.equal(retryBudgetAllows(100, 24, config), true);
  assert.equal(retryBudgetAllows(100, 25, config), false);

  const budget = new RetryBudget(config);
  for (let i = 0; i < 10; i++) budget.request(1000);
  const spent = Array.from({ length: 10 }, () => budget.tryRetry(1500)).filter(Boolean).length;
  assert.equal(spent, 7, '5 floor + 20% of 10');
  // 11 s later the window is empty again: only the floor.
  const later = Array.from({ length: 10 }, () => budget.tryRetry(12_000)).filter(Boolean).length;
  assert.equal(later, 5);
});

test('retryDecision: the budget is asked last, only when a retry is otherwise safe', () => {
  const input = {
    method: 'GET',
    failure: 'connect' as const,
    reusedSocket: false,
    hasBody: false,
    bodyStarted: false,
    responseStarted: false,
    idempotencyKey: false,
    retries: 0,
    maxRetries: 2,
  };
  let asked = 0;
  const budget = (answer: boolean) => () => {
    asked++;
    return answer;
  };
  assert.deepEqual(retryDecision({ ...input, budgetAvailable: budget(false) }), {
    retry: false,
    reason: 'RetryBudgetExhausted',
  });
  assert.deepEqual(retryDecision({ ...input, budgetAvailable: budget(true) }), {
    retry: true,
    reason: 'ConnectFailed',
  });
  assert.equal(asked, 2);
  retryDecision({ ...input, method: 'POST', failure: 'timeout', budgetAvailable: budget(true) });
  assert.equal(asked, 2, 'not asked when the retry is refused anyway');
});

test('slowStartWeight: 10% → 100% linearly over the window', () => {
  const cases: [elapsed: number, window: number, want: number][] = [
    [0, 1000, 0.4],
    [50, 1000, 0.4],
    [500, 1000, 2],
    [1000, 1000, 4],
    [5000, 1000, 4],
    [0, 0, 4],
  ];
  for (const [elapsed, window, want] of cases) {
    assert.equal(slowStartWeight(4, elapsed, window), want, `${elapsed}/${window}`);
  }
});

test('Maglev: even shares, and adding or removing one instance moves about 1/N of the slots', () => {
  const size = 65_537;
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `web-${i}`);
  const ones = (n: number) => Array.from({ length: n }, () => 1);
  const t5 = buildMaglevTable(ids(5), ones(5), size);
  const shares = new Array(5).fill(0);
  for (const i of t5) shares[i]++;
  for (const s of shares) assert.ok(Math.abs(s / size - 0.2) < 0.01, `share ${s / size}`);
  const t6 = buildMaglevTable(ids(6), ones(6), size);
  let moved = 0;
  for (let s = 0; s < size; s++) if (t5[s] !== t6[s]) moved++;
  assert.ok(moved / size < 1 / 6 + 0.05, `moved ${moved / size}`);
  // Weight 2 gets about twice the slots.
  const w = buildMaglevTable(ids(3), [2, 1, 1], size);
  const a = w.filter((i) => i === 0).length / size;
  assert.ok(Math.abs(a - 0.5) < 0.02, `weighted share ${a}`);
});

test('parseHashKey: ip, header:NAME, cookie:NAME', () => {
  assert.deepEqual(parseHashKey('ip'), { kind: 'ip' });
  assert.deepEqual(parseHashKey('header:X-User'), { kind: 'header', name: 'x-user' });
  assert.deepEqual(parseHashKey('cookie:sid'), { kind: 'cookie', name: 'sid' });
  for (const bad of ['', 'header:', 'cookie:a b', 'path']) {
    assert.throws(
      () => parseHashKey(bad),
      (err: BalancerError) => err.code === 'BALANCER_INVALID_ARGUMENT',
    );
  }
});
