// Declaring a queue moves the jobs parked while it was deleted (see topology.ts) back into it. A
// move the broker refused (or any failed move) gave every parked job of its batch back to the parked
// queue by closing the channel: a quorum queue counts each such return in x-delivery-count, and
// RabbitMQ 4.0 gives every quorum queue a delivery limit (20 by default). Past it a parked job is
// dead-lettered, and the parked queue has no dead-letter exchange: about 20 failed moves dropped
// every parked job, silently. Reproduced on 3.x with a `delivery-limit` policy on this test's
// parked queue alone (2 here), the work queue refusing publishes (a max-length 0 reject-publish
// policy on it alone) for 5 declarations.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, delayBucket, delayQueue, type QueueError, rabbitNames } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';
import { brokerDelayKind, deletePolicy, onBroker, setPolicy } from './rabbitmq-admin.js';

const options = backendOptions('rabbitmq');
const JOBS = 3;
const DELAY = 500;
const FAILED_MOVES = 5;

test('parked jobs whose move back keeps failing stay parked past a delivery limit, and run once it succeeds (RabbitMQ, delivery-limit 2)', async () => {
  const producer = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('unpark-limit');
  const names = rabbitNames('sp', name);
  const limitPolicy = `${name}-delivery-limit`;
  const refusePolicy = `${name}-refuse`;
  after(async () => {
    await deletePolicy(limitPolicy).catch(() => {});
    await deletePolicy(refusePolicy).catch(() => {});
    await producer.destroy(name).catch(() => {});
    await producer.close();
  });
  for (let i = 0; i < JOBS; i++) await producer.publish(name, i, { id: `job-${i}`, delay: DELAY });
  // The work queue is deleted while the jobs wait out their delay: they fall due into the parked queue.
  await onBroker((ch) => ch.deleteQueue(names.queue));
  const waiting = delayQueue(names, delayBucket(DELAY), undefined, await brokerDelayKind()).name;
  await waitFor(
    async () => (await onBroker((ch) => ch.checkQueue(names.parked))).messageCount === JOBS,
    'the delayed jobs to fall due into the parked queue',
  );
  assert.equal((await onBroker((ch) => ch.checkQueue(waiting))).messageCount, 0);

  // RabbitMQ 4.0's default delivery limit, made low, on the parked queue alone; and a work queue that
  // refuses every publish (a full disk, a max-length with reject-publish) once it is declared again.
  await setPolicy(limitPolicy, names.parked, { 'delivery-limit': 2 });
  await onBroker((ch) =>
    ch.assertQueue(names.queue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-dead-letter-exchange': names.dlx,
        'x-dead-letter-routing-key': names.queue,
      },
    }),
  );
  await setPolicy(refusePolicy, names.queue, { 'max-length': 0, overflow: 'reject-publish' });
  // A quorum queue's limit is soft: it refuses a publish once it is over it. One operator message
  // puts it there.
  await onBroker(async (ch) => {
    ch.sendToQueue(names.queue, Buffer.from('filler'));
    await ch.checkQueue(names.queue);
  });
  await waitFor(
    async () => (await onBroker((ch) => ch.checkQueue(names.queue))).messageCount === 1,
    'the work queue to be over its limit',
  );

  // Each process declaring the queue (a producer or worker starting) tries the move, and fails.
  for (let i = 1; i <= FAILED_MOVES; i++) {
    const q = createQueue({ ...options, backend: 'rabbitmq' });
    const errors: QueueError[] = [];
    q.on('error', (error: QueueError) => errors.push(error));
    try {
      await q.depth(name);
    } finally {
      await q.close();
    }
    assert.ok(
      errors.some((e) => /parked jobs/.test(e.message)),
      `declaration ${i}: the failed move is reported (${errors.map((e) => e.message).join('; ')})`,
    );
    const parked = await onBroker((ch) => ch.checkQueue(names.parked));
    assert.equal(parked.messageCount, JOBS, `declaration ${i}: every job is still parked`);
  }
  assert.equal((await onBroker((ch) => ch.checkQueue(names.queue))).messageCount, 1, 'no job was stored');
  await onBroker((ch) => ch.purgeQueue(names.queue));

  // The work queue takes jobs again: the next declaration moves them back, and a worker runs each once.
  await deletePolicy(refusePolicy, names.queue);
  const later = createQueue({ ...options, backend: 'rabbitmq' });
  after(() => later.close());
  const completed: string[] = [];
  const worker = later.worker(name, (_payload, job) => {
    completed.push(job.id);
  });
  await worker.ready;
  await waitFor(() => completed.length >= JOBS, 'every parked job to run').catch(() => {});
  await worker.close();
  assert.deepEqual(
    completed.sort(),
    Array.from({ length: JOBS }, (_, i) => `job-${i}`),
    'every parked job ran, once',
  );
  assert.equal((await onBroker((ch) => ch.checkQueue(names.parked))).messageCount, 0, 'none is left parked');
});
