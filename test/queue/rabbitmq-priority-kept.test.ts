// On a RabbitMQ classic queue a job's priority is an AMQP message property. Only the first publish
// (and the classic stall recount) set it: a retry, a hand-back at close and a dead-letter retry
// published the job again without it, so a job of priority 9 that failed once queued as priority
// 0, behind every job of a higher one. Each copy is read back here from the queue it went to.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type Channel, type ChannelModel, connect } from 'amqplib';
import { createQueue, delayBucket, delayQueue, rabbitNames } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';
import { brokerDelayKind } from './rabbitmq-admin.js';

const queue = createQueue({
  backend: 'rabbitmq',
  url: (backendOptions('rabbitmq') as { url: string }).url,
  queueType: 'classic',
});
const names: string[] = [];
let connection: ChannelModel | undefined;
let channel: Channel;

after(async () => {
  await connection?.close();
  for (const n of names) await queue.destroy(n).catch(() => {});
  await queue.close();
});

const name = (tag: string) => {
  const n = uniqueName(tag);
  names.push(n);
  return n;
};

/** priorityIn reads the priority of the one message waiting in broker queue `from` (left there). */
async function priorityIn(from: string): Promise<number | undefined> {
  if (connection === undefined) {
    connection = await connect((backendOptions('rabbitmq') as { url: string }).url);
    channel = await connection.createChannel();
  }
  let msg: Awaited<ReturnType<Channel['get']>> = false;
  await waitFor(async () => {
    msg = await channel.get(from, { noAck: false });
    return msg !== false;
  }, `a message in ${from}`);
  const got = msg as unknown as { properties: { priority?: number; messageId?: string } };
  channel.nackAll(true);
  return got.properties.priority;
}

test('a retried job keeps its priority (classic queue)', async () => {
  const q = name('prio-retry');
  // A minute's backoff, no jitter: the retry waits in its delay queue, where it is read.
  const worker = queue.worker(
    q,
    () => {
      throw new Error('fails once');
    },
    { retries: 1, backoff: { initial: 60_000, factor: 1, max: 60_000, jitter: 0 } },
  );
  let retried = 0;
  worker.on('retrying', () => retried++);
  await queue.publish(q, 'urgent', { priority: 9 });
  await waitFor(() => retried === 1, 'the retry published');
  await worker.close();
  const delayed = delayQueue(
    rabbitNames('sp', q),
    delayBucket(60_000),
    undefined,
    await brokerDelayKind(),
  ).name;
  assert.equal(await priorityIn(delayed), 9, 'priority of the retry waiting in its delay queue');
});

test('a job handed back at close keeps its priority (classic queue)', async () => {
  const q = name('prio-release');
  let started = false;
  let finish = () => {};
  const running = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const worker = queue.worker(
    q,
    async () => {
      started = true;
      await running;
    },
    { closeTimeout: 100 },
  );
  await queue.publish(q, 'urgent', { priority: 9 });
  await waitFor(() => started, 'the handler running');
  await worker.close();
  finish();
  assert.equal(await priorityIn(rabbitNames('sp', q).queue), 9, 'priority of the copy handed back');
});

test('a dead letter retried keeps its priority (classic queue)', async () => {
  const q = name('prio-dlq');
  const worker = queue.worker(
    q,
    () => {
      throw new Error('always fails');
    },
    { retries: 0 },
  );
  await queue.publish(q, 'urgent', { priority: 9 });
  await waitFor(async () => (await queue.dlq(q).list()).length === 1, 'the job dead-lettered');
  await worker.close();
  assert.equal(await queue.dlq(q).retry(), 1);
  assert.equal(await priorityIn(rabbitNames('sp', q).queue), 9, 'priority of the job re-queued from the DLQ');
});
