// A queue's JetStream streams deleted while a process uses them (`destroy` in another process, an
// operator) are made again by that process, as RabbitMQ and Redis declare theirs again. Before, its
// cache said they existed: every publish of the queue was re-sent until publishTimeout and rejected
// QUEUE_PUBLISH_TIMEOUT, never stored, and its worker pulled from the deleted consumer for good
// ("consumer deleted", then "heartbeats missed" every second), running no job again; a dead letter
// into a deleted dead-letter stream failed every time, and the job came back until MaxDeliver.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createQueue } from '../../src/queue/index.js';
import { natsNames } from '../../src/queue/nats/backend.js';
import { backendOptions, uniqueName } from './helpers.js';

test('a queue destroyed by another process is made again by the producer and the worker (NATS)', async () => {
  const queue = createQueue({ ...backendOptions('nats'), publishTimeout: 5000 });
  const other = createQueue(backendOptions('nats'));
  const name = uniqueName('nats-destroyed');
  queue.on('error', () => {});
  // The worker makes destroyed streams again: closed first, or it would remake them after cleanup.
  after(async () => {
    await queue.close();
    await other.destroy(name).catch(() => {});
    await other.close();
  });
  const ran: unknown[] = [];
  let second!: () => void;
  const secondRan = new Promise<void>((resolve) => {
    second = resolve;
  });
  let first!: () => void;
  const firstRan = new Promise<void>((resolve) => {
    first = resolve;
  });
  const worker = queue.worker(name, (payload) => {
    ran.push(payload);
    if (payload === 'first') first();
    if (payload === 'second') second();
  });
  worker.on('error', () => {});
  await queue.publish(name, 'first');
  await firstRan;
  await other.destroy(name);
  const outcome = await queue.publish(name, 'second').then(
    () => 'stored',
    (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
  );
  assert.equal(outcome, 'stored', 'a publish after the queue was destroyed elsewhere is stored');
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    secondRan.then(() => 'ran'),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('not run within 15 s'), 15_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(result, 'ran', `the worker runs the job published after the destroy (ran: ${ran.join(', ')})`);
});

test('a dead letter into a dead-letter stream deleted meanwhile makes it again (NATS)', async () => {
  const queue = createQueue(backendOptions('nats'));
  const name = uniqueName('nats-dlq-deleted');
  queue.on('error', () => {});
  const nc = await connect({ servers: (backendOptions('nats') as { servers: string }).servers });
  after(async () => {
    await queue.close();
    const cleaner = createQueue(backendOptions('nats'));
    await cleaner.destroy(name).catch(() => {});
    await cleaner.close();
    await nc.close();
  });
  // The queue's streams exist (the publish made them); then an operator deletes the DLQ stream.
  await queue.publish(name, 'doomed');
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(natsNames(name).dlqStream);
  const settled = new Promise<string>((resolve) => {
    const worker = queue.worker(
      name,
      () => {
        throw new Error('always fails');
      },
      { retries: 0 },
    );
    worker.on('dead-lettered', () => resolve('dead-lettered'));
    worker.on('error', (error) => resolve(`error: ${error.message}: ${(error.cause as Error)?.message}`));
  });
  assert.equal(await settled, 'dead-lettered', 'the job is dead-lettered into a stream made again');
  const letters = await queue.dlq(name).list();
  assert.deepEqual(
    letters.map((l) => l.job.payload),
    ['doomed'],
    'the dead letter is listed',
  );
});
