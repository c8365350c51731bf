// Delayed jobs and retries on RabbitMQ wait in TTL queues (one per rounded delay) with `x-expires`,
// so unused ones go away. RabbitMQ counts a queue as unused while nobody declares or consumes it:
// publishing into it does not count. Declared only once per process, a delay queue expired
// `delay + delayQueueIdle` after a producer started using it, with jobs inside, and every later
// publish to it was confirmed into nowhere (unroutable, dropped): delayed jobs and retries of a
// long-running producer or worker were lost for good (a retry's original is acked once the delayed
// copy is confirmed). delayQueueIdle (default 60 s) is shortened here so the test takes seconds.
// The lease is timed on the monotonic clock, as RabbitMQ times x-expires: a step of the system clock
// does not move it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, delayQueueRedeclare } from '../../src/queue/index.js';
import { backendOptions, failingOnceWorker, sleep, uniqueName, waitFor } from './helpers.js';

const options = backendOptions('rabbitmq');

test('delayed jobs and retries published past the delay queue expiry still run (RabbitMQ)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq', delayQueueIdle: 1000 });
  const name = uniqueName('delayexp');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  // Every job fails once, so its retry goes through the same 100 ms delay queue.
  const { worker, completed } = failingOnceWorker(queue, name, {
    retries: 3,
    backoff: { initial: 100, factor: 1, max: 100, jitter: 0 },
  });
  await worker.ready;
  // A producer publishing steadily for 3 s, past the 1.1 s (100 ms + 1000 ms) expiry of its delay queue.
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const { id } = await queue.publish(name, i, { id: `job-${i}`, delay: 100 });
    ids.push(id);
    await sleep(250);
  }
  await waitFor(() => completed.size === ids.length, 'every delayed job to complete', 10_000).catch(() => {});
  const lost = ids.filter((id) => !completed.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${ids.length} delayed jobs never completed`);
  await worker.close();
});

test('a step back of the system clock does not hold off the next declaration (RabbitMQ)', async (t) => {
  const queue = createQueue({ ...options, backend: 'rabbitmq', delayQueueIdle: 1000 });
  const name = uniqueName('delaystep');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const { worker, completed } = failingOnceWorker(queue, name, {
    retries: 3,
    backoff: { initial: 100, factor: 1, max: 100, jitter: 0 },
  });
  await worker.ready;
  // The first publish declares the delay queue; then the system clock steps back 10 min (Date.now
  // replaced; performance.now, the monotonic clock, left alone) while the producer publishes on
  // past the 1.1 s expiry. Timed on Date.now, the queue was not declared again for 10 min.
  const ids = [(await queue.publish(name, 0, { id: 'job-0', delay: 100 })).id];
  const real = Date.now;
  Date.now = () => real() - 10 * 60_000;
  t.after(() => {
    Date.now = real;
  });
  for (let i = 1; i < 12; i++) {
    await sleep(250);
    ids.push((await queue.publish(name, i, { id: `job-${i}`, delay: 100 })).id);
  }
  await waitFor(() => completed.size === ids.length, 'every delayed job to complete', 10_000).catch(() => {});
  Date.now = real;
  const lost = ids.filter((id) => !completed.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${ids.length} delayed jobs never completed`);
  await worker.close();
});

test('delayQueueRedeclare renews the lease every idle / 2', () => {
  assert.equal(delayQueueRedeclare(undefined, 0, 60_000), true);
  assert.equal(delayQueueRedeclare(1000, 1000 + 29_999, 60_000), false);
  assert.equal(delayQueueRedeclare(1000, 1000 + 30_000, 60_000), true);
});

test('delayQueueIdle below 1 s is refused when the queue is made, naming the field', () => {
  assert.throws(
    () => createQueue({ ...options, backend: 'rabbitmq', delayQueueIdle: 500 }),
    (error: Error & { code?: string }) =>
      error.code === 'QUEUE_INVALID_ARGUMENT' && /delayQueueIdle/.test(error.message),
  );
});
