// A RabbitMQ worker settles a failed job by publishing its retry (or dead letter), then acking the
// delivery. A publish the broker did not take (refused by a queue at its max-length under
// reject-publish, or blocked by a memory alarm) failed the settle, and the delivery stayed unacked
// on its live channel until that closed (RabbitMQ's consumer_timeout: 30 min by default), holding
// its prefetch slot: a worker with concurrency 1 got no job again. Now a retry not taken within
// publishTimeout gives the delivery back (counted as a stall), and the job runs again.
//
// The refusal is a policy on this test's work queue alone (max-length 0, reject-publish), set
// while the job's first attempt runs and lifted once its retry has failed.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';
import { deletePolicy, setPolicy } from './rabbitmq-admin.js';

test('a retry the broker refused gives the job back instead of holding its slot (RabbitMQ)', async () => {
  const queue = createQueue({ ...backendOptions('rabbitmq'), publishTimeout: 1500 });
  const name = uniqueName('settle-refused');
  const policy = `${name}-refuse`;
  after(async () => {
    await deletePolicy(policy).catch(() => {});
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const errors: QueueError[] = [];
  queue.on('error', () => {});
  const runs: string[] = [];
  let release!: () => void;
  const refusing = new Promise<void>((resolve) => {
    release = resolve;
  });
  const worker = queue.worker(
    name,
    async (payload: string, job) => {
      runs.push(`${payload}:${job.attempt}`);
      if (payload === 'a' && job.attempt === 1) {
        await refusing;
        throw new Error('first attempt fails');
      }
    },
    { concurrency: 1, retries: 3, backoff: { initial: 0, factor: 1, max: 0, jitter: 0 }, maxStalls: 2 },
  );
  worker.on('error', (error: QueueError) => errors.push(error));
  const completed = new Set<string>();
  worker.on('completed', (event: { id: string }) => completed.add(event.id));
  await worker.ready;
  await queue.publish(name, 'a', { id: 'a' });
  await waitFor(() => runs.includes('a:1'), 'job a to start');
  // Job b waits behind it (concurrency 1). Its retry (delay 0) goes to the work queue, which now
  // refuses every publish: it holds b, over its max-length of 0.
  await queue.publish(name, 'b', { id: 'b' });
  await setPolicy(policy, `sp.${name}`, { 'max-length': 0, overflow: 'reject-publish' });
  release();
  await waitFor(() => errors.length > 0, "job a's retry to fail", 15_000);
  await deletePolicy(policy, `sp.${name}`);
  await waitFor(() => completed.has('b'), 'job b to complete', 8_000).catch(() => {});
  assert.ok(
    completed.has('b'),
    `job b ran on the worker (runs: ${runs}; errors: ${errors.map((e) => e.code)})`,
  );
  await waitFor(() => completed.has('a'), 'job a to complete', 8_000).catch(() => {});
  assert.ok(completed.has('a'), `job a ran again and completed (runs: ${runs})`);
  await worker.close();
});

// A classic queue only flags a redelivery: the worker counts the stall by publishing the job again
// with one stall more, then acks the delivery. That publish refused held the delivery the same way.
test('a classic queue stall count the broker refused gives the job back instead of holding its slot (RabbitMQ)', async () => {
  const { url } = backendOptions('rabbitmq') as { url: string };
  const queue = createQueue({ backend: 'rabbitmq', url, queueType: 'classic', publishTimeout: 1500 });
  const name = uniqueName('stall-refused');
  const policy = `${name}-refuse`;
  after(async () => {
    await deletePolicy(policy).catch(() => {});
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const errors: QueueError[] = [];
  queue.on('error', (error: QueueError) => errors.push(error));
  await queue.publish(name, 'a', { id: 'a' });
  await queue.publish(name, 'b', { id: 'b' });
  // A worker that dies holding job a: taken and not acked, its connection closed. Back at the head
  // of the queue, flagged redelivered. Meanwhile the work queue holds job b alone, and a policy
  // (max-length 1, reject-publish) makes it refuse every publish from then on; set before job a
  // is back, as a lower max-length drops the messages over it.
  const { connect } = await import('amqplib');
  const dying = await connect((backendOptions('rabbitmq') as { url: string }).url);
  const ch = await dying.createChannel();
  const taken = await ch.get(`sp.${name}`, { noAck: false });
  assert.ok(taken, 'the dying worker took job a');
  await setPolicy(policy, `sp.${name}`, { 'max-length': 1, overflow: 'reject-publish' });
  await dying.close();
  const completed = new Set<string>();
  const runs: string[] = [];
  const worker = queue.worker(name, (payload: string, job) => void runs.push(`${payload}:${job.attempt}`), {
    concurrency: 1,
  });
  worker.on('completed', (event: { id: string }) => completed.add(event.id));
  await waitFor(() => errors.length > 0, "job a's stall count to fail", 15_000);
  await deletePolicy(policy, `sp.${name}`);
  await waitFor(() => completed.has('b'), 'job b to complete', 8_000).catch(() => {});
  assert.ok(
    completed.has('b'),
    `job b ran on the worker (runs: ${runs}; errors: ${errors.map((e) => e.code)})`,
  );
  await waitFor(() => completed.has('a'), 'job a to complete', 8_000).catch(() => {});
  assert.ok(completed.has('a'), `job a ran and completed (runs: ${runs})`);
  await worker.close();
});
