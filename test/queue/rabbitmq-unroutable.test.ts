// A RabbitMQ publish is routed by queue name through the default exchange (or, for dead letters,
// through the DLX). When that queue no longer exists (deleted by `destroy` in another process, by
// an operator, or expired) the broker confirms the message and drops it, unless it was published
// `mandatory`: then it returns it first. Without that, a producer whose process had declared the
// queue earlier reported every later publish as stored while the jobs went nowhere (measured: 21
// of 21 publishes confirmed after another process destroyed the queue, depth 0). Now the backend
// publishes `mandatory`, declares the queue again on a return and publishes once more; if that
// cannot be done the publish rejects with QUEUE_PUBLISH_FAILED naming the queue.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, deadLetteringWorker, uniqueName, waitFor } from './helpers.js';
import { onBroker } from './rabbitmq-admin.js';

const options = backendOptions('rabbitmq');

test('publishes to a queue another process destroyed are stored in the queue declared again, not dropped (RabbitMQ)', async () => {
  const producer = createQueue({ ...options, backend: 'rabbitmq' });
  const other = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('unroutable');
  after(async () => {
    await other.destroy(name).catch(() => {});
    await producer.close();
    await other.close();
  });
  await producer.publish(name, 'before');
  // Another process destroys the queue; this producer still holds its declaration.
  await other.destroy(name);
  for (let i = 0; i < 5; i++) await producer.publish(name, i, { id: `job-${i}` });
  const { depth } = await other.depth(name);
  assert.equal(depth, 5, `${5 - depth} of 5 confirmed publishes were dropped`);
});

test('a worker dead-lettering into a dead-letter queue an operator deleted stores the letter (RabbitMQ)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('unroutable-dlq');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const { worker, dead } = await deadLetteringWorker(queue, name);
  await onBroker((ch) => ch.deleteQueue(`sp.${name}.dlq`));
  await queue.publish(name, 'x', { id: 'doomed' });
  await waitFor(() => dead.length === 1, 'the job to be dead-lettered');
  await worker.close();
  const letters = await queue.dlq(name).list();
  assert.deepEqual(
    letters.map((l) => l.job.id),
    ['doomed'],
  );
});

test('a returned publish whose queue cannot be declared again rejects with QUEUE_PUBLISH_FAILED naming the queue (RabbitMQ)', async () => {
  // A prefix of its own, so that its DLX can be made undeclarable without touching other tests.
  const prefix = uniqueName('unr');
  const queue = createQueue({ ...options, backend: 'rabbitmq', prefix });
  const name = 'jobs';
  after(async () => {
    await onBroker(async (ch) => {
      await ch.deleteQueue(`${prefix}.${name}`);
      await ch.deleteQueue(`${prefix}.${name}.dlq`);
      await ch.deleteQueue(`${prefix}.${name}.parked`);
      for (const exchange of ['dlx', 'due', 'parked']) await ch.deleteExchange(`${prefix}.${exchange}`);
    }).catch(() => {});
    await queue.close();
  });
  await queue.publish(name, 'before');
  // An operator deletes the queue and re-creates the DLX with another type: declaring the
  // topology again is refused (PRECONDITION_FAILED), so the job cannot be stored.
  await onBroker(async (ch) => {
    await ch.deleteQueue(`${prefix}.${name}`);
    await ch.deleteExchange(`${prefix}.dlx`);
    await ch.assertExchange(`${prefix}.dlx`, 'fanout', { durable: false, autoDelete: false });
  });
  await assert.rejects(queue.publish(name, 'lost?'), (error: QueueError) => {
    assert.equal(error.code, 'QUEUE_PUBLISH_FAILED');
    assert.match(error.message, new RegExp(`queue ${prefix}\\.${name} does not exist`));
    return true;
  });
});
