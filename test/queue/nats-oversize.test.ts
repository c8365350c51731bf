// The NATS client refuses a message over the server's max_payload (1 MiB by default) before
// sending it. Before, the backend took that for a transient failure and re-sent it until
// `publishTimeout` (30 s by default), then reported QUEUE_PUBLISH_TIMEOUT, which says the job may
// still arrive. Now it is refused at once, naming `payload` and the limit.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, uniqueName } from './helpers.js';

test('a job over max_payload is refused naming the payload, not timed out; later jobs are stored (NATS)', async () => {
  const queue = createQueue({ ...backendOptions('nats'), publishTimeout: 10_000 });
  const name = uniqueName('oversize');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const error = await queue.publish(name, 'x'.repeat(1024 * 1024 + 1024)).then(
    () => undefined,
    (e: QueueError) => e,
  );
  assert.equal(
    error?.code,
    'QUEUE_INVALID_ARGUMENT',
    `refused as bad input: ${error?.code} ${error?.message}`,
  );
  assert.match(error.message, /^payload: job \S+ is \d+ bytes as sent .*max_payload of 1048576/);
  await queue.publish(name, 'small');
  assert.equal((await queue.depth(name)).depth, 1, 'only the small job is stored');
});
