// RabbitMQ refuses a message over its max_message_size (128 MiB by default in 3.x) by closing the
// channel it came on (406 PRECONDITION_FAILED), not the connection. Every publish of a queue goes
// through one confirm channel, so before, that channel stayed closed: the oversized job was re-sent
// until `publishTimeout` and reported as QUEUE_PUBLISH_TIMEOUT ("may still arrive"), and every later
// publish of the process failed the same way (measured: a 9-byte job after a 135 MB one timed out).
// Now the oversized publish is refused naming `payload` and the sizes, and the channel is reopened.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, uniqueName } from './helpers.js';

test('a job over max_message_size is refused naming the payload; later publishes and jobs still work (RabbitMQ)', async () => {
  // The broker refuses the 128 MiB job only once it has read all of it: on a loaded machine (a CI
  // run beside other work, load ~20 on 2 cores) that took over 10 s and the publish timed out
  // before the refusal came. A refusal ends the wait however long the bound is.
  const queue = createQueue({ ...backendOptions('rabbitmq'), publishTimeout: 60_000 });
  const name = uniqueName('oversize');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  await queue.publish(name, 'before');
  const big = 'x'.repeat(128 * 1024 * 1024 + 1024);
  const refused = (error: QueueError) =>
    error.code === 'QUEUE_INVALID_ARGUMENT' &&
    /^payload: job \S+ is \d+ bytes as sent, over the broker's max_message_size of 134217728/.test(
      error.message,
    );
  const first = await queue.publish(name, big).then(
    () => undefined,
    (error: QueueError) => error,
  );
  const later = await queue.publish(name, 'after').then(
    () => 'stored',
    (error: QueueError) => `${error.code}: ${error.message}`,
  );
  assert.equal(later, 'stored', 'a job published after the oversized one is stored');
  assert.ok(first && refused(first), `the oversized job is refused naming the payload: ${first?.message}`);
  // Known now: refused before it is sent, so it cannot close the channel under other publishes.
  await assert.rejects(queue.publish(name, big), refused);
  const ran: unknown[] = [];
  let done!: () => void;
  const both = new Promise<void>((resolve) => {
    done = resolve;
  });
  const worker = queue.worker(name, (payload) => {
    ran.push(payload);
    if (ran.length === 2) done();
  });
  await both;
  assert.deepEqual(ran, ['before', 'after']);
  await worker.close();
});
