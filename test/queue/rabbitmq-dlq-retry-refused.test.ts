// dlq.retry() moves each dead letter back to its work queue and takes it off the dead-letter queue
// only once the broker confirmed it stored the job. A publish the broker refuses (nack: a work
// queue at its x-max-length with overflow reject-publish, a full disk) stored nothing, so its
// letter must stay in the dead-letter queue and retry() must say so, at once and by name. Before,
// a refused publish was taken for a lost confirm and published again with backoff until retry's
// 30 s per-letter bound, which then rejected with a bare timeout that named no letter and no count.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, deadLetteringWorker, uniqueName, waitFor } from './helpers.js';
import { onBroker } from './rabbitmq-admin.js';

const options = backendOptions('rabbitmq');

test('a dead letter whose re-publish the broker refuses stays in the dead-letter queue and retry() names it (RabbitMQ)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('dlq-refused');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const { worker, dead } = await deadLetteringWorker(queue, name);
  await queue.publish(name, 'a', { id: 'letter-a' });
  await queue.publish(name, 'b', { id: 'letter-b' });
  await waitFor(() => dead.length === 2, 'both jobs to be dead-lettered');
  await worker.close();
  // An operator re-creates the work queue bounded to one job, refusing publishes past it: the
  // re-publish of whichever letter comes first is stored, the other's refused (a nack).
  await onBroker(async (ch) => {
    await ch.deleteQueue(`sp.${name}`);
    await ch.assertQueue(`sp.${name}`, {
      durable: true,
      arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
    });
  });
  const error = await queue
    .dlq(name)
    .retry()
    .then(
      (moved) => assert.fail(`retry() resolved with ${moved} moved although one re-publish was refused`),
      (e: QueueError) => e,
    );
  assert.equal(error.code, 'QUEUE_PUBLISH_FAILED', `retry() failed with ${error.code}: ${error.message}`);
  assert.match(
    error.message,
    /; 1 moved$/,
    `the error does not say the one confirmed letter moved: ${error.message}`,
  );
  const left = await queue.dlq(name).list();
  assert.equal(
    left.length,
    1,
    `the dead-letter queue holds ${left.length} letters after the retry, not the refused one`,
  );
  assert.ok(
    error.message.includes(JSON.stringify(left[0]!.ref)) && error.message.includes(left[0]!.job.id),
    `the error does not name the letter left (ref ${left[0]!.ref}, job ${left[0]!.job.id}): ${error.message}`,
  );
  const { depth } = await queue.depth(name);
  assert.equal(depth, 1, `the work queue holds ${depth} jobs, not the one whose re-publish was confirmed`);
});
