// RabbitMQ closes a consumer channel one of whose deliveries stays unacked past its
// `consumer_timeout` (30 min by default), with 406 PRECONDITION_FAILED, and puts the job back. The
// worker reopened the channel and the job was delivered again, but nothing told the handler still
// running the first copy: it ran on beside the second (two runs of one job at once, past the
// worker's concurrency), and its ack could only fail (QUEUE_ACK_FAILED). Now its `signal` is
// aborted when the channel closes under it, and its outcome is not settled.
// The shared broker is RabbitMQ 3.10, which has no per-queue `x-consumer-timeout` (3.12+): the
// timeout is set on a private node (consumer_timeout 1 s, checked every 200 ms), never the shared one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { OwnRabbit } from './fixtures/own-rabbit.js';
import { uniqueName, waitFor } from './helpers.js';

let rabbit: OwnRabbit;
before(async () => {
  rabbit = await OwnRabbit.start({
    conf: ['consumer_timeout = 1000'],
    rabbit: { channel_tick_interval: 200 },
  });
});
after(async () => {
  await rabbit?.close();
});

test('a job past consumer_timeout: its handler is told, the job runs again and completes once (RabbitMQ)', async () => {
  const queue = createQueue({
    backend: 'rabbitmq',
    url: rabbit.url,
    ...(process.env.RABBITMQ_QUEUE_TYPE === 'classic' ? { queueType: 'classic' as const } : {}),
  });
  const name = uniqueName('consumer-timeout');
  const queueErrors: string[] = [];
  queue.on('error', (error: QueueError) => queueErrors.push(`${error.code} ${error.message}`));
  const workerErrors: string[] = [];
  const runs: string[] = [];
  const completed: string[] = [];
  const abandoned: number[] = [];
  let told: unknown;
  const worker = queue.worker(
    name,
    async (payload, job) => {
      runs.push(`${String(payload)}:${job.attempt}`);
      if (payload !== 'long' || job.attempt > 1) return;
      // Runs until the broker takes the job back, then stops, as a handler honouring its signal does.
      await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
      told = job.signal.reason;
    },
    { concurrency: 1 },
  );
  worker.on('error', (error: QueueError) => workerErrors.push(`${error.code} ${error.message}`));
  worker.on('completed', (event) => completed.push(`${event.id}:${event.attempt}`));
  worker.on('abandoned', (event) => abandoned.push(event.attempt));
  after(async () => {
    await worker.close();
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  await queue.publish(name, 'long', { id: 'long' });
  await queue.publish(name, 'next', { id: 'next' });
  await waitFor(() => told !== undefined, 'the first run told that the broker took its job back', 20_000);
  assert.match(
    String((told as Error).message),
    /the broker took it back while it ran/,
    `the abort reason: ${String(told)}`,
  );
  await waitFor(() => completed.length === 2, `both jobs completed (runs: ${runs.join(', ')})`, 20_000);
  assert.deepEqual(
    completed.sort(),
    ['long:2', 'next:1'],
    'each job completed once; the long one on its redelivery',
  );
  assert.deepEqual(abandoned, [1], 'the first run is reported abandoned');
  assert.ok(
    queueErrors.some((e) => /PRECONDITION.FAILED.*timed out/.test(e)),
    `the broker's consumer timeout is reported: ${queueErrors.join(' | ')}`,
  );
  assert.deepEqual(
    workerErrors.filter((e) => e.startsWith('QUEUE_ACK_FAILED')),
    [],
    'no ack of the taken-back copy was tried',
  );
  assert.deepEqual(await queue.dlq(name).list(), [], 'nothing dead-lettered');
  assert.equal((await queue.depth(name)).depth, 0, 'nothing left waiting');
});
