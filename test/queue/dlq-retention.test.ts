// A queue's dead-letter queue was never trimmed on any backend: it grew until someone purged it.
// Now `deadLetterRetention` bounds it by count and by age, the oldest letters going first:
// RabbitMQ's x-max-length / x-message-ttl (drop-head), JetStream's MaxMsgs / MaxAge, and on Redis
// trims of the dead-letter stream as letters are written, listed, and in each worker's claim round.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  type BackendName,
  createQueue,
  type Queue,
  type QueueOptions,
  rabbitNames,
  UnrecoverableError,
  type Worker,
} from '../../src/queue/index.js';
import { redisKeys } from '../../src/queue/redis/backend.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

/**
 * deadLetterAll dead-letters `ids` one by one, in order, through a worker whose jobs all fail, and
 * returns that worker, still open: a NATS worker's close() waits out its open pull (up to 1 s),
 * which would age the letters before the test looks at them.
 */
async function deadLetterAll(queue: Queue, name: string, ids: string[]): Promise<Worker> {
  const dead: string[] = [];
  const worker = queue.worker(
    name,
    () => {
      throw new UnrecoverableError('poison');
    },
    { concurrency: 1 },
  );
  worker.on('dead-lettered', (event: { id: string }) => dead.push(event.id));
  worker.on('error', () => {});
  for (const id of ids) await queue.publish(name, id, { id });
  await waitFor(() => dead.length === ids.length, `${ids.length} jobs dead-lettered (have ${dead.length})`);
  return worker;
}

/**
 * cleanUp closes `queue` (its workers with it) first, then deletes the queue's broker objects from
 * another: a running worker makes them again once they are deleted.
 */
async function cleanUp(queue: Queue, backend: BackendName, name: string): Promise<void> {
  await queue.close();
  const cleaner = createQueue(backendOptions(backend));
  cleaner.on('error', () => {});
  await cleaner.destroy(name).catch(() => {});
  await cleaner.close();
}

function withRetention(backend: BackendName, retention: QueueOptions['deadLetterRetention']): QueueOptions {
  return { ...backendOptions(backend), deadLetterRetention: retention };
}

describe('dead-letter retention', { concurrency: true }, () => {
  for (const backend of ['rabbitmq', 'redis', 'nats'] as BackendName[]) {
    test(`the dead-letter queue keeps the newest \`count\` letters (${backend})`, async () => {
      const queue = createQueue(withRetention(backend, { count: 3 }));
      queue.on('error', () => {});
      const name = uniqueName('dlqcount');
      after(() => cleanUp(queue, backend, name));
      const ids = ['j1', 'j2', 'j3', 'j4', 'j5'];
      const worker = await deadLetterAll(queue, name, ids);
      await worker.close();
      const kept = (await queue.dlq(name).list(100)).map((letter) => letter.job.id);
      assert.deepEqual(kept, ['j3', 'j4', 'j5'], `5 dead-lettered with count 3 kept ${JSON.stringify(kept)}`);
    });

    test(`a dead letter older than \`age\` leaves the queue, with no letter written since (${backend})`, async (t) => {
      const age = 2000;
      const queue = createQueue(withRetention(backend, { age }));
      queue.on('error', () => {});
      const name = uniqueName('dlqage');
      after(() => cleanUp(queue, backend, name));
      const worker = await deadLetterAll(queue, name, ['a1', 'a2']);
      const listed = (await queue.dlq(name).list(100)).length;
      assert.equal(listed, 2, `both letters listed before their age (${listed})`);
      const startedAt = Date.now();
      await waitFor(
        async () => (await queue.dlq(name).list(100)).length === 0,
        `the letters gone ${age} ms after they were written`,
        5 * age,
      );
      await worker.close();
      t.diagnostic(`letters gone ${Date.now() - startedAt} ms after the first listing (age ${age} ms)`);
    });
  }
});

test('deadLetterRetention outside what every broker can apply is refused when the queue is made', () => {
  for (const retention of [{ count: 0 }, { count: 1.5 }, { age: 0 }, { age: 2 ** 32 }]) {
    assert.throws(
      () => createQueue(withRetention('redis', retention)),
      (error: { code?: string; field?: string }) =>
        error.code === 'QUEUE_INVALID_ARGUMENT' && error.field === 'deadLetterRetention',
      `refused: ${JSON.stringify(retention)}`,
    );
  }
});

test('a RabbitMQ dead-letter queue made before retention keeps working, and the queue says why it is not bounded', async () => {
  const { connect } = await import('amqplib');
  const options = backendOptions('rabbitmq') as QueueOptions & { url: string; queueType?: string };
  const name = uniqueName('dlqold');
  const names = rabbitNames('sp', name);
  // As an earlier version declared it: queue type only.
  const amqp = await connect(options.url);
  const ch = await amqp.createChannel();
  await ch.assertQueue(names.dlq, {
    durable: true,
    arguments: { 'x-queue-type': options.queueType ?? 'quorum' },
  });
  await amqp.close();
  const queue = createQueue(withRetention('rabbitmq', { count: 3 }));
  const errors: string[] = [];
  queue.on('error', (error: Error) => errors.push(error.message));
  after(() => cleanUp(queue, 'rabbitmq', name));
  const worker = await deadLetterAll(queue, name, ['o1']);
  await worker.close();
  const kept = (await queue.dlq(name).list(100)).map((letter) => letter.job.id);
  assert.deepEqual(kept, ['o1'], `the job dead-lettered into the old DLQ: ${JSON.stringify(kept)}`);
  const reported = errors.filter((m) => m.includes(names.dlq) && m.includes('deadLetterRetention'));
  assert.equal(reported.length, 1, `reported once that retention is not applied: ${JSON.stringify(errors)}`);
});

// Redis trims the dead-letter stream as letters are written, listed, and in workers' claim rounds:
// lazily, as BullMQ applies removeOnFail's age. retry() lists first, so it never puts a letter past
// its age back on the queue (kept here as a guard); purge() counted such letters as purged when no
// letter had been written or listed and no claim round had run since (a group scaled to zero).
describe('dead-letter retention on Redis: letters past their age are gone for retry() and purge()', () => {
  for (const call of ['retry', 'purge'] as const) {
    test(`${call}() finds no letter past its age`, async () => {
      const age = 500;
      const queue = createQueue(withRetention('redis', { age }));
      queue.on('error', () => {});
      const name = uniqueName(`dlqage${call}`);
      after(() => cleanUp(queue, 'redis', name));
      const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
      after(() => redis.quit());
      const worker = await deadLetterAll(queue, name, ['old1', 'old2']);
      // No worker left to trim in a claim round.
      await worker.close();
      const dlq = redisKeys('sp', name).dlq;
      const letters = (await redis.xrange(dlq, '-', '+')) as [string, string[]][];
      assert.equal(letters.length, 2, `two letters written (${letters.length})`);
      const newest = Number(letters[1]![0].split('-')[0]);
      // Until Redis's clock, which dates the letters, is past the newest one's age.
      await waitFor(async () => {
        const [seconds, micros] = await redis.time();
        // In whole ms, as the trim reads it: an entry goes when its ms is below now − age.
        return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - age > newest;
      }, 'the letters past their age');
      const handled = call === 'retry' ? await queue.dlq(name).retry() : await queue.dlq(name).purge();
      assert.equal(handled, 0, `${call}() handled ${handled} letters past their age`);
      assert.equal(await redis.xlen(redisKeys('sp', name).stream), 0, 'nothing put back on the queue');
    });
  }
});
