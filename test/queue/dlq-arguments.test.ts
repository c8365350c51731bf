// dlq().list(limit) and dlq().retry(refs) took whatever they were given. A limit of 1.5 listed 2
// letters on RabbitMQ and NATS and failed with Redis's own "value is not an integer"; 0, -1 or NaN
// listed none, as if the queue were empty. A ref passed as a string, not in an array, was taken as
// its characters: on NATS (refs are sequence numbers) retry('12') re-queued letters 1 and 2. Both
// now fail QUEUE_INVALID_ARGUMENT naming the field, with nothing read or moved.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createQueue, type Queue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

const outcome = (call: () => Promise<unknown>) =>
  call().then(
    (value) => `resolved ${JSON.stringify(value)}`,
    (error: QueueError) => `${error.code} ${error.message}`,
  );

for (const backend of ['rabbitmq', 'redis', 'nats'] as const) {
  describe(`dead-letter call arguments: ${backend}`, () => {
    let queue: Queue;
    const name = uniqueName(`dlq-args-${backend}`);
    after(async () => {
      await queue.destroy(name).catch(() => {});
      await queue.close();
    });

    test('a bad limit or refs fails naming the field, and moves nothing', async () => {
      queue = createQueue(backendOptions(backend));
      const worker = queue.worker(
        name,
        () => {
          throw new Error('always fails');
        },
        { retries: 0 },
      );
      await queue.publish(name, 'a');
      await queue.publish(name, 'b');
      await waitFor(async () => (await queue.dlq(name).list()).length === 2, 'both jobs dead-lettered');
      await worker.close();
      for (const limit of [1.5, 0, -1, Number.NaN]) {
        const seen = await outcome(() => queue.dlq(name).list(limit));
        assert.match(
          seen,
          /^QUEUE_INVALID_ARGUMENT limit: must be an integer >= 1/,
          `list(${limit}): ${seen}`,
        );
      }
      const refs = (await queue.dlq(name).list()).map((l) => l.ref).join('');
      const seen = await outcome(() => queue.dlq(name).retry(refs as unknown as string[]));
      assert.match(
        seen,
        /^QUEUE_INVALID_ARGUMENT refs: must be an array/,
        `retry(${JSON.stringify(refs)}): ${seen}`,
      );
      assert.equal(
        (await queue.dlq(name).list(Number.POSITIVE_INFINITY)).length,
        2,
        'both letters still there',
      );
    });
  });
}
