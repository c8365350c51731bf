// dlq.retry() looked at the dead-letter queue before it moved anything: a list(1) to see the broker
// answer, then with refs a listing of every letter (to refuse letters that are not jobs), then the
// retry itself. On RabbitMQ a listing takes every letter round the queue (a copy to its tail per
// letter), so retry(refs) did that three times. And a retry that failed other than by a broker
// refusal said nothing of what had moved: a dead letter whose job has an id AMQP cannot carry (over
// 255 bytes, written by another producer) was published again with backoff for 30 s, and the
// retry then rejected with amqplib's own TypeError, no count, no letter named, the letters behind
// it not retried.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type Channel, connect } from 'amqplib';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, uniqueName } from './helpers.js';
import { onBroker } from './rabbitmq-admin.js';

const options = backendOptions('rabbitmq');
const url = (options as { url: string }).url;

/** A dead letter another producer wrote: a job envelope, without Scaleplane's headers. */
function foreignLetter(ch: Channel, dlq: string, name: string, id: string): void {
  const job = { id, queue: name, payload: id.slice(0, 8), attempt: 3, publishedAt: Date.now() };
  ch.sendToQueue(dlq, Buffer.from(JSON.stringify(job)), {
    persistent: true,
    ...(id.length <= 255 ? { messageId: id } : {}),
  });
}

test('dlq.retry() walks the dead-letter queue once, plus one listing when refs are named (RabbitMQ)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('dlq-once');
  const dlq = `sp.${name}.dlq`;
  const probe = await connect(url);
  // Every walk over a dead-letter queue starts by counting its letters (checkQueue on it).
  const channelProto = Object.getPrototypeOf(Object.getPrototypeOf(await probe.createConfirmChannel()));
  const checkQueue = channelProto.checkQueue;
  let walks = 0;
  channelProto.checkQueue = function (this: Channel, q: string) {
    if (q === dlq) walks++;
    return checkQueue.call(this, q);
  };
  after(async () => {
    channelProto.checkQueue = checkQueue;
    await probe.close();
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  await queue.depth(name); // declares the queue's objects
  await onBroker(async (ch) => {
    for (const id of ['a', 'b', 'c']) foreignLetter(ch, dlq, name, id);
  });
  walks = 0;
  assert.equal(await queue.dlq(name).retry(['b']), 1);
  assert.equal(walks, 2, 'retry(refs): one listing (refusing letters that are not jobs) and the retry');
  walks = 0;
  assert.equal(await queue.dlq(name).retry(), 2);
  assert.equal(walks, 1, 'retry(): the retry alone');
  assert.equal((await queue.depth(name)).depth, 3);
});

test('a dead letter whose job cannot be sent over AMQP stays, named, and the others move at once (RabbitMQ)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('dlq-unsendable');
  const dlq = `sp.${name}.dlq`;
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  await queue.depth(name); // declares the queue's objects
  const long = `x${'y'.repeat(299)}`;
  await onBroker(async (ch) => {
    for (const id of ['a', long, 'c']) foreignLetter(ch, dlq, name, id);
  });
  const started = Date.now();
  const error = await queue
    .dlq(name)
    .retry()
    .then(
      (moved) => assert.fail(`retry() resolved with ${moved} moved although one letter cannot be sent`),
      (e: QueueError) => e,
    );
  const took = Date.now() - started;
  assert.equal(error.code, 'QUEUE_PUBLISH_FAILED', `retry() failed with ${error.code}: ${error.message}`);
  assert.match(error.message, /; 2 moved$/, `the error does not say two letters moved: ${error.message}`);
  assert.ok(error.message.includes(long), `the error does not name the letter left: ${error.message}`);
  assert.ok(
    took < 10_000,
    `retry() took ${took} ms: the unsendable letter was published again until a timeout`,
  );
  assert.deepEqual(
    (await queue.dlq(name).list()).map((l) => l.job.id),
    [long],
    'only the unsendable letter stays',
  );
  assert.equal((await queue.depth(name)).depth, 2, 'jobs a and c are back on their work queue');
});
