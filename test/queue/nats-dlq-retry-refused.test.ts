// dlq.retry() on NATS re-publishes each letter's job to the work stream. A stream full with
// DiscardNew (max_msgs, max_bytes: an operator's bound) refuses the publish, storing nothing: that
// was taken for a lost publish and sent again with backoff for 30 s, then the error went up alone,
// saying neither which letter stayed nor how many had moved. Now the refused letter stays in the
// dead-letter stream, the others still move, and the retry fails naming it and the count.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { natsNames } from '../../src/queue/nats/backend.js';
import { backendOptions, deadLetteringWorker, uniqueName, waitFor } from './helpers.js';

test('a dead letter whose job the work stream refuses stays, and retry() names it and the count (NATS)', async () => {
  const queue = createQueue(backendOptions('nats'));
  const name = uniqueName('nats-dlq-refused');
  const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    await nc.close();
  });
  const { worker, dead } = await deadLetteringWorker(queue, name);
  await queue.publish(name, 'a', { id: 'letter-a' });
  await queue.publish(name, 'b', { id: 'letter-b' });
  await waitFor(() => dead.length === 2, 'both jobs to be dead-lettered');
  await worker.close();
  // An operator bounds the work stream to one job, refusing publishes past it.
  const { stream } = natsNames(name);
  const { config } = await jsm.streams.info(stream);
  await jsm.streams.update(stream, { ...config, max_msgs: 1, discard: DiscardPolicy.New });
  const started = Date.now();
  const error = await queue
    .dlq(name)
    .retry()
    .then(
      (moved) => assert.fail(`retry() resolved with ${moved} moved although one re-publish was refused`),
      (e: QueueError) => e,
    );
  const took = Date.now() - started;
  assert.equal(error.code, 'QUEUE_PUBLISH_FAILED', `retry() failed with ${error.code}: ${error.message}`);
  assert.match(error.message, /; 1 moved$/, `the error does not say one letter moved: ${error.message}`);
  const left = await queue.dlq(name).list();
  assert.equal(left.length, 1, `the dead-letter stream holds ${left.length} letters, not the refused one`);
  assert.ok(
    error.message.includes(`${left[0]!.ref} (job ${left[0]!.job.id})`),
    `the error does not name the letter left (ref ${left[0]!.ref}, job ${left[0]!.job.id}): ${error.message}`,
  );
  assert.ok(took < 10_000, `retry() took ${took} ms: the refused letter was published again until a timeout`);
  assert.equal((await queue.depth(name)).depth, 1, 'the work stream holds the one job stored');
});
