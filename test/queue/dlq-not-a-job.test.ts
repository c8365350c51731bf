// A dead letter whose body is not a job (another producer writing to the dead-letter queue, a
// foreign message the broker dead-lettered) made `dlq.list()` and `dlq.retry()` throw for the whole
// queue: `JSON.parse` of its body (RabbitMQ, NATS; on Redis a `job` field that is not JSON), so no
// letter could be read or re-queued until someone removed it by hand. Now it is listed with
// `notJob` and its raw body, the letters beside it as before; `retry()` leaves it, naming it in
// `refs` is refused before anything moves, and `purge()` removes it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  type BackendName,
  createQueue,
  type DeadLetter,
  type Queue,
  type QueueError,
} from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

/** writeRawDeadLetters puts two foreign letters in `queue`'s dead-letter queue, as another producer would. */
async function writeRawDeadLetters(backend: BackendName, queue: string): Promise<void> {
  switch (backend) {
    case 'rabbitmq': {
      const { connect } = await import('amqplib');
      const connection = await connect((backendOptions('rabbitmq') as { url: string }).url);
      try {
        const channel = await connection.createConfirmChannel();
        channel.sendToQueue(`sp.${queue}.dlq`, Buffer.from('not json'), { persistent: true });
        channel.sendToQueue(`sp.${queue}.dlq`, Buffer.from('{"to":"someone"}'), { persistent: true });
        await channel.waitForConfirms();
      } finally {
        await connection.close();
      }
      return;
    }
    case 'redis': {
      const { Redis } = await import('ioredis');
      const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
      try {
        await redis.xadd(`sp:{${queue}}:dlq`, '*', 'job', 'not json', 'error', 'by hand');
        await redis.xadd(`sp:{${queue}}:dlq`, '*', 'other', 'x');
      } finally {
        redis.disconnect();
      }
      return;
    }
    case 'nats': {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstream } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
      try {
        const js = jetstream(nc);
        await js.publish(`sp.dlq.${queue}`, new TextEncoder().encode('not json'));
        await js.publish(`sp.dlq.${queue}`, new TextEncoder().encode('{"to":"someone"}'));
      } finally {
        await nc.close();
      }
      return;
    }
  }
}

/** summary is what a listing says of each letter, for one readable assertion. */
const summary = (letters: DeadLetter[]) =>
  letters.map((l) => ({
    payload: l.job.payload,
    notJob: l.notJob === undefined ? undefined : l.notJob.replace(/ \(.*\)$/, ' (…)'),
  }));

for (const backend of ['rabbitmq', 'redis', 'nats'] as const) {
  describe(`dead letters that are not jobs: ${backend}`, () => {
    let queue: Queue;
    const name = uniqueName(`dlq-raw-${backend}`);
    after(async () => {
      await queue.destroy(name).catch(() => {});
      await queue.close();
    });

    test('are listed with notJob beside the jobs; retry leaves them, purge removes them', async () => {
      queue = createQueue(backendOptions(backend));
      let failing = true;
      const completed: string[] = [];
      const worker = queue.worker(
        name,
        (payload) => {
          if (failing) throw new Error('fails for now');
          completed.push(String(payload));
        },
        { retries: 0 },
      );
      await worker.ready;
      await queue.publish(name, 'job-a', { id: 'a' });
      await queue.publish(name, 'job-b', { id: 'b' });
      await waitFor(async () => (await queue.dlq(name).list()).length === 2, 'both jobs dead-lettered');
      await writeRawDeadLetters(backend, name);

      const listed = await queue.dlq(name).list();
      const foreign =
        backend === 'redis'
          ? [
              { payload: 'not json', notJob: 'not JSON (…)' },
              { payload: { other: 'x' }, notJob: 'no job in the message' },
            ]
          : [
              { payload: 'not json', notJob: 'not JSON (…)' },
              {
                payload: { to: 'someone' },
                notJob: 'not a job envelope: "id" must be a non-empty string',
              },
            ];
      assert.deepEqual(
        summary(listed),
        [{ payload: 'job-a', notJob: undefined }, { payload: 'job-b', notJob: undefined }, ...foreign],
        `the listing: ${JSON.stringify(listed)}`,
      );
      const raw = listed[2]!;
      assert.equal(raw.job.id, raw.ref, 'a foreign letter stands in under its ref');
      assert.deepEqual(
        summary(await queue.dlq(name).list()).map((l) => l.payload),
        summary(listed).map((l) => l.payload),
        'the letters are all still there after a listing',
      );

      const named = await queue
        .dlq(name)
        .retry([listed[0]!.ref, raw.ref])
        .then(
          (moved) => `moved ${moved}`,
          (error: QueueError) => `${error.code} ${error.message}`,
        );
      assert.match(
        named,
        /^QUEUE_INVALID_ARGUMENT refs: dead letter ".+" of queue ".+" is not a Scaleplane job \(not JSON/,
        `a retry naming the foreign letter: ${named}`,
      );
      assert.equal((await queue.dlq(name).list()).length, 4, 'the refused retry moved nothing');

      failing = false;
      assert.equal(await queue.dlq(name).retry(), 2, 'retry() re-queues the two jobs only');
      await waitFor(() => completed.length === 2, 'the re-queued jobs run');
      assert.deepEqual(completed.sort(), ['job-a', 'job-b']);
      assert.deepEqual(
        summary(await queue.dlq(name).list()),
        foreign,
        'the foreign letters stay listed as they were',
      );
      assert.equal(await queue.dlq(name).purge(), 2, 'purge() removes them');
      assert.deepEqual(await queue.dlq(name).list(), []);
      await worker.close();
    });
  });
}
