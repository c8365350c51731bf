import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import {
  backoffDelay,
  createQueue,
  DEFAULT_RECONNECT_BACKOFF,
  decideRetry,
  decideStall,
  decodeEnvelope,
  defaultCloseTimeout,
  delayBucket,
  depthRate,
  natsDeliveryCounts,
  natsMaxDeliver,
  resolveWorkerOptions,
} from '../../src/queue/index.js';
import { queueMetrics } from '../../src/queue/metrics.js';
import { settleBarrier } from '../../src/queue/rabbitmq/settle.js';

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
  for (let a = 1; a < 40; a++)
    assert.ok(backoffDelay(a, o, Math.random) <= o.max, 'backoffDelay(a, o, Math.random) <= o.max');
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

test('decideStall runs a job up to maxStalls stalls and dead-letters it at the next one, naming counts', () => {
  const cases: [stalls: number, maxStalls: number, action: string][] = [
    [0, 0, 'run'],
    [1, 0, 'dead-letter'],
    [0, 1, 'run'],
    [1, 1, 'run'],
    [2, 1, 'dead-letter'],
    [5, 5, 'run'],
    [6, 5, 'dead-letter'],
  ];
  for (const [stalls, maxStalls, action] of cases)
    assert.equal(decideStall(stalls, maxStalls, stalls + 1).action, action, `${stalls} of ${maxStalls}`);
  const d = decideStall(2, 1, 3);
  assert.equal(d.reason, 'StallLimit');
  assert.equal(
    d.action === 'dead-letter' && d.message,
    'job stalled more than allowable limit: stalled 2 times (maxStalls 1), delivery 3',
  );
});

test('the dead-lettered counter says it counts stall-limit dead letters too (the worker counts both)', async () => {
  const registry = new Registry();
  queueMetrics(registry);
  const text = await registry.metrics();
  const help = text.split('\n').find((l) => l.startsWith('# HELP scaleplane_queue_jobs_dead_lettered_total'));
  assert.match(help ?? '', /last attempt.*maxStalls/);
});

test('natsMaxDeliver leaves the dead-lettering delivery (and a delayed job its wait) inside MaxDeliver', () => {
  // retries 3, maxStalls 1: deliveries 1-5 may run, 6 dead-letters, 7 if the job waited out a delay.
  assert.equal(natsMaxDeliver(4, 1, 0), 7);
  assert.equal(natsMaxDeliver(4, 1, 10), 17);
  for (let attempts = 1; attempts < 6; attempts++)
    for (let stalls = 0; stalls < 4; stalls++) {
      const deadLetteredAt = attempts + stalls + 1;
      assert.ok(
        natsMaxDeliver(attempts, stalls, 0) >= deadLetteredAt + 1,
        'natsMaxDeliver(attempts, stalls, 0) >= deadLetteredAt + 1',
      );
      assert.equal(decideStall(deadLetteredAt - attempts, stalls, deadLetteredAt).action, 'dead-letter');
    }
});

test('natsDeliveryCounts: retries and stalls spend deliveries, a handed-back copy starts from its envelope', () => {
  const cases: [
    what: string,
    args: [attempt: number, stalls: number, deliveryCount: number, waited: boolean, maxAttempts: number],
    expected: { attempt: number; stalls: number },
  ][] = [
    ['first delivery', [1, 0, 1, false, 4], { attempt: 1, stalls: 0 }],
    ['after two retries (naks)', [1, 0, 3, false, 4], { attempt: 3, stalls: 0 }],
    ['a delayed job after its waiting delivery', [1, 0, 2, true, 4], { attempt: 1, stalls: 0 }],
    ['retries 0, after one stall', [1, 0, 2, false, 1], { attempt: 2, stalls: 1 }],
    ['retries 0, handed back twice (a new copy each time)', [1, 0, 1, false, 1], { attempt: 1, stalls: 0 }],
    ['a handed-back copy of attempt 3', [3, 0, 1, false, 4], { attempt: 3, stalls: 0 }],
    ['a copy that carries a stall', [2, 1, 1, false, 4], { attempt: 2, stalls: 1 }],
    ['that copy stalling again with retries 0', [2, 1, 2, false, 1], { attempt: 3, stalls: 2 }],
  ];
  for (const [what, args, expected] of cases) assert.deepEqual(natsDeliveryCounts(...args), expected, what);
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
  assert.equal(o.maxStalls, 1);
  assert.throws(() => resolveWorkerOptions({ retries: -1 }), { field: 'retries' });
  for (const maxStalls of [-1, 1.5, Number.NaN, '2' as never])
    assert.throws(() => resolveWorkerOptions({ maxStalls }), {
      code: 'QUEUE_INVALID_ARGUMENT',
      field: 'maxStalls',
    });
  assert.equal(resolveWorkerOptions({ maxStalls: 0 }).maxStalls, 0);
  assert.throws(() => resolveWorkerOptions({ backoff: { factor: 0.5 } }), { field: 'backoff' });
});

test("close()'s default wait fits the instance's stop timeout when Scaleplane gives one", () => {
  const wait = (value?: string) =>
    defaultCloseTimeout(value === undefined ? {} : { SCALEPLANE_STOP_TIMEOUT_MS: value });
  assert.equal(wait(), 30_000, 'not an instance of a local group');
  assert.equal(wait('10000'), 8_000, 'stop_timeout 10 s (the default): 2 s kept to hand the jobs back');
  assert.equal(wait('3000'), 2_400, 'a fifth kept when that is less than 2 s');
  assert.equal(wait('60000'), 58_000, 'a longer stop_timeout is used');
  assert.equal(wait('0'), 0, 'stop_timeout 0: hand back at once');
  for (const junk of ['', 'soon', '-5', '1.5'])
    assert.equal(wait(junk), 30_000, `${JSON.stringify(junk)} is no stop timeout`);
});

test('createQueue rejects bad queue and backend options eagerly, naming the field', async () => {
  const cases: [Parameters<typeof createQueue>[0], string][] = [
    [{ backend: 'rabbitmq', publishTimeout: -1 }, 'publishTimeout'],
    [{ backend: 'rabbitmq', publishTimeout: '5s' as never }, 'publishTimeout'],
    // A negative first delay or a factor below 1 would reconnect in a hot loop.
    [{ backend: 'rabbitmq', reconnect: { initial: -5 } }, 'reconnect'],
    [{ backend: 'redis', reconnect: { factor: 0 } }, 'reconnect'],
    [{ backend: 'nats', duplicateWindow: -1 }, 'duplicateWindow'],
    [{ backend: 'nats', maxDeliverMargin: -20 }, 'maxDeliverMargin'],
  ];
  for (const [options, field] of cases) {
    let queue: ReturnType<typeof createQueue> | undefined;
    try {
      assert.throws(
        () => {
          queue = createQueue(options);
        },
        { code: 'QUEUE_INVALID_ARGUMENT', field },
        JSON.stringify(options),
      );
    } finally {
      // Accepted by mistake: close its connection so the failure does not hang the file.
      await queue?.close();
    }
  }
});

test('settleBarrier: acks written while a round trip is out wait for the next one, which they share', async () => {
  const trips: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const barrier = settleBarrier(
    () =>
      new Promise<void>((resolve, reject) => {
        trips.push({ resolve, reject });
      }),
  );
  const settled: string[] = [];
  const first = barrier().then(() => settled.push('a'));
  const second = barrier().then(() => settled.push('b'));
  const third = barrier().then(() => settled.push('c'));
  assert.equal(trips.length, 1, 'one round trip out at a time');
  trips[0]!.resolve();
  await first;
  assert.deepEqual(settled, ['a'], 'b and c were written after trip 1 was sent: it proves nothing for them');
  await new Promise((r) => setImmediate(r));
  assert.equal(trips.length, 2, 'b and c share trip 2');
  trips[1]!.resolve();
  await Promise.all([second, third]);
  assert.deepEqual(settled, ['a', 'b', 'c']);
  const later = barrier();
  assert.equal(trips.length, 3, 'idle again: a new ack starts a trip at once');
  trips[2]!.reject(new Error('Channel closed'));
  await assert.rejects(later, /Channel closed/);
  const afterFailure = barrier();
  assert.equal(trips.length, 4, 'a failed trip does not wedge the barrier');
  trips[3]!.resolve();
  await afterFailure;
});

test('settleBarrier: a round trip that throws at once rejects its waiters', async () => {
  const barrier = settleBarrier(() => {
    throw new Error('Channel closed');
  });
  await assert.rejects(barrier(), /Channel closed/);
  await assert.rejects(barrier(), /Channel closed/);
});

test('decodeEnvelope keeps a job, and turns what is not one into a stand-in naming the problem', () => {
  const job = { id: 'a', queue: 'q', payload: { n: 1 }, attempt: 2, publishedAt: 5, stalls: 1 };
  assert.deepEqual(decodeEnvelope(JSON.stringify(job), 'q', 'fb'), { envelope: job });
  const cases: [string | undefined, unknown, RegExp][] = [
    [undefined, undefined, /^no job in the message$/],
    ['not json', 'not json', /^not JSON \(/],
    ['42', 42, /^not a job envelope \(/],
    ['[1]', [1], /^not a job envelope \(/],
    ['{"to":"x"}', { to: 'x' }, /"id" must be a non-empty string/],
    [
      '{"id":"a","attempt":0,"publishedAt":1}',
      { id: 'a', attempt: 0, publishedAt: 1 },
      /"attempt" must be an integer >= 1/,
    ],
    ['{"id":"a","attempt":1}', { id: 'a', attempt: 1 }, /"publishedAt" must be a number/],
    [
      '{"id":"a","attempt":1,"publishedAt":1,"stalls":-1}',
      { id: 'a', attempt: 1, publishedAt: 1, stalls: -1 },
      /"stalls"/,
    ],
  ];
  for (const [text, payload, problem] of cases) {
    const decoded = decodeEnvelope(text, 'q', 'fb');
    assert.match(decoded.problem ?? '', problem, String(text));
    assert.deepEqual(
      decoded.envelope,
      { id: 'fb', queue: 'q', payload, attempt: 1, publishedAt: 0 },
      String(text),
    );
  }
});

test('a backoff given only an initial delay above the default max waits that long, not refused', () => {
  // "Retry after 2 minutes": before, refused as `backoff: needs initial >= 0, factor >= 1, max >=
  // initial, 0 <= jitter <= 1`, a max the user never set (the default, 60 s) below the initial.
  const o = resolveWorkerOptions({ backoff: { initial: 120_000, factor: 1, jitter: 0 } });
  assert.deepEqual(o.backoff, { initial: 120_000, factor: 1, max: 120_000, jitter: 0 });
  assert.equal(decideRetry(1, 3, o.backoff, () => 0.5).action, 'retry');
  assert.equal(
    resolveWorkerOptions({ backoff: { initial: 500 } }).backoff.max,
    60_000,
    'the default max otherwise',
  );
  // A max the user did set below the initial is refused, naming both values.
  assert.throws(() => resolveWorkerOptions({ backoff: { initial: 120_000, max: 30_000 } }), {
    code: 'QUEUE_INVALID_ARGUMENT',
    field: 'backoff',
    message: 'backoff: max (30000) must be >= initial (120000)',
  });
  assert.throws(() => resolveWorkerOptions({ backoff: { factor: 0.5 } }), {
    message: 'backoff: factor (0.5) must be >= 1',
  });
  assert.throws(() => resolveWorkerOptions({ backoff: { jitter: 2 } }), {
    message: 'backoff: jitter (2) must be from 0 to 1',
  });
  assert.throws(() => resolveWorkerOptions({ backoff: { initial: -1 } }), {
    message: 'backoff: initial (-1) must be >= 0',
  });
});
