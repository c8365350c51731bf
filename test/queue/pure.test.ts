import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backoffDelay,
  DEFAULT_RECONNECT_BACKOFF,
  decideRetry,
  delayBucket,
  depthRate,
  resolveWorkerOptions,
} from '../../src/queue/index.js';

const noJitter = { initial: 100, factor: 2, max: 1000, jitter: 0 };

test('backoffDelay doubles from initial and stops at max', () => {
  const cases: [number, number][] = [
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1000],
    [50, 1000],
  ];
  for (const [attempt, expected] of cases)
    assert.equal(
      backoffDelay(attempt, noJitter, () => 0.5),
      expected,
    );
});

test('backoffDelay jitter spans [base×(1−jitter), base] and never exceeds max', () => {
  const o = { ...DEFAULT_RECONNECT_BACKOFF, jitter: 0.5 };
  assert.equal(
    backoffDelay(3, o, () => 0),
    200,
  );
  assert.equal(
    backoffDelay(3, o, () => 0.999999),
    400,
  );
  for (let a = 1; a < 40; a++) assert.ok(backoffDelay(a, o, Math.random) <= o.max);
});

test('decideRetry retries while attempts are left, then dead-letters with a reason', () => {
  assert.deepEqual(
    decideRetry(1, 2, noJitter, () => 0),
    { action: 'retry', delay: 100, reason: 'AttemptsLeft' },
  );
  assert.deepEqual(
    decideRetry(2, 2, noJitter, () => 0),
    { action: 'retry', delay: 200, reason: 'AttemptsLeft' },
  );
  assert.deepEqual(
    decideRetry(3, 2, noJitter, () => 0),
    { action: 'dead-letter', reason: 'RetriesExhausted' },
  );
  assert.deepEqual(
    decideRetry(1, 0, noJitter, () => 0),
    { action: 'dead-letter', reason: 'RetriesExhausted' },
  );
  assert.deepEqual(
    decideRetry(1, 5, noJitter, () => 0, false),
    { action: 'dead-letter', reason: 'NotRetryable' },
  );
});

test('delayBucket rounds up to two significant digits', () => {
  const cases: [number, number][] = [
    [0, 0],
    [7, 7],
    [99, 99],
    [101, 110],
    [1234, 1300],
    [1300, 1300],
    [59_001, 60_000],
  ];
  for (const [ms, bucket] of cases) assert.equal(delayBucket(ms), bucket, `${ms}`);
});

test('depthRate divides added jobs by elapsed seconds, undefined without counters', () => {
  assert.equal(depthRate({ depth: 0, added: 100, at: 1000 }, { depth: 0, added: 300, at: 3000 }), 100);
  assert.equal(depthRate(undefined, { depth: 0, added: 1, at: 1 }), undefined);
  assert.equal(depthRate({ depth: 0, at: 0 }, { depth: 0, at: 1000 }), undefined);
});

test('resolveWorkerOptions applies defaults and names the bad field', () => {
  const o = resolveWorkerOptions({});
  assert.equal(o.concurrency, 1);
  assert.equal(o.retries, 3);
  assert.equal(o.backoff.initial, 1000);
  assert.throws(() => resolveWorkerOptions({ retries: -1 }), { field: 'retries' });
  assert.throws(() => resolveWorkerOptions({ backoff: { factor: 0.5 } }), { field: 'backoff' });
});
