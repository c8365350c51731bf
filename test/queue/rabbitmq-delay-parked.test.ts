// A delayed job or a retry waits out its delay in a TTL queue; when the TTL runs out the broker
// itself dead-letters it into the main queue, with no publisher to return it to. If the main queue
// was deleted meanwhile (an operator, `destroy` in another process) RabbitMQ dropped it: measured
// 10 of 10 jobs delayed 1 s lost when the queue was deleted before they were due and declared again
// after. Now due jobs leave through the `<prefix>.due` exchange, whose alternate exchange parks
// those no queue takes in `<prefix>.<queue>.parked`; declaring the queue again moves them back.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect } from 'amqplib';
import { createQueue, delayBucket, delayQueue, rabbitNames } from '../../src/queue/index.js';
import { backendOptions, failingOnceWorker, uniqueName, waitFor } from './helpers.js';
import { brokerDelayKind } from './rabbitmq-admin.js';

const options = backendOptions('rabbitmq');
const url = (options as { url: string }).url;
const JOBS = 10;
const DELAY = 1000;

test('delayed jobs that fall due while their queue is deleted run once it is declared again (RabbitMQ)', async () => {
  const producer = createQueue({ ...options, backend: 'rabbitmq' });
  const later = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('parked');
  const operator = await connect(url);
  after(async () => {
    await operator.close().catch(() => {});
    // The producer's destroy knows its delay queue too.
    await producer.destroy(name).catch(() => {});
    await producer.close();
    await later.close();
  });
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++)
    ids.push((await producer.publish(name, i, { id: `job-${i}`, delay: DELAY })).id);

  // An operator deletes the queue while the jobs wait in their delay queue, with no worker running.
  const ch = await operator.createChannel();
  await ch.deleteQueue(`sp.${name}`);
  const waiting = delayQueue(
    rabbitNames('sp', name),
    delayBucket(DELAY),
    undefined,
    await brokerDelayKind(),
  ).name;
  await waitFor(
    async () => (await ch.checkQueue(waiting)).messageCount === 0,
    'the delayed jobs to fall due',
    10_000,
  );

  // A worker started afterwards declares the queue again.
  const completed = new Set<string>();
  const worker = later.worker(name, (_payload, job) => {
    completed.add(job.id);
  });
  await worker.ready;
  await waitFor(() => completed.size === JOBS, 'every delayed job to run', 10_000).catch(() => {});
  await worker.close();
  const lost = ids.filter((id) => !completed.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${JOBS} delayed jobs lost`);
});

test("a retry that falls due while a running worker's queue is deleted still runs (RabbitMQ)", async () => {
  const queue = createQueue({
    ...options,
    backend: 'rabbitmq',
    reconnect: { initial: 2500, max: 2500, factor: 1, jitter: 0 },
  });
  const name = uniqueName('parked-retry');
  const operator = await connect(url);
  after(async () => {
    await operator.close().catch(() => {});
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const { worker, completed } = failingOnceWorker(queue, name, {
    retries: 1,
    backoff: { initial: 1000, factor: 1, max: 1000, jitter: 0 },
  });
  let retrying = 0;
  worker.on('retrying', () => retrying++);
  await worker.ready;
  for (let i = 0; i < JOBS; i++) await queue.publish(name, i, { id: `job-${i}` });
  await waitFor(() => retrying === JOBS, 'every first attempt to fail and its retry to wait');
  // Deleted while the retries wait out their 1 s: the worker's consumer is cancelled and it
  // declares the queue again only after its reconnect backoff (2.5 s here), once they are due.
  const ch = await operator.createChannel();
  await ch.deleteQueue(`sp.${name}`);
  await waitFor(() => completed.size === JOBS, 'every retry to run', 10_000).catch(() => {});
  await worker.close();
  assert.equal(completed.size, JOBS, `${JOBS - completed.size} of ${JOBS} retries lost`);
});
