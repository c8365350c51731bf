// Retrying a NATS dead letter re-queues the job, then deletes the letter from the dead-letter
// stream. A delete JetStream refuses (a stream with deny_delete, a user without the permission)
// was swallowed and the letter counted as moved: it stayed listed, and the next retry re-queued
// the job again (a duplicate, once the duplicate window has passed). Now the retry says which
// letters it could not remove.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { natsNames } from '../../src/queue/nats/backend.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

test('a dead letter re-queued but not removed is reported, not counted as moved (NATS)', async () => {
  const queue = createQueue(backendOptions('nats'));
  const name = uniqueName('nats-dlq-retry');
  const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  after(async () => {
    await queue.close();
    const cleaner = createQueue(backendOptions('nats'));
    await cleaner.destroy(name).catch(() => {});
    await cleaner.close();
    await nc.close();
  });
  await queue.publish(name, 'doomed', { id: 'job-1' });
  const worker = queue.worker(
    name,
    () => {
      throw new Error('always fails');
    },
    { retries: 0 },
  );
  await waitFor(async () => (await queue.dlq(name).list()).length === 1, 'the job dead-lettered');
  await worker.close();
  // The operator locks the dead-letter stream against deletes.
  const { dlqStream } = natsNames(name);
  const { config } = await jsm.streams.info(dlqStream);
  await jsm.streams.update(dlqStream, { ...config, deny_delete: true });
  const outcome = await queue
    .dlq(name)
    .retry()
    .then(
      (moved) => `moved ${moved}`,
      (error: QueueError) => `${error.code} ${error.message}`,
    );
  assert.match(
    outcome,
    /^QUEUE_BACKEND 1 dead letter re-queued, but letter 1 could not be removed from SP_.*_DLQ/,
    `the retry's outcome: ${outcome}`,
  );
  assert.equal((await queue.depth(name)).depth, 1, 'the job is back in the queue');
});
