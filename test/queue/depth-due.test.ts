// A worker-scaling policy reads `depth()` with no worker running (a group scaled to zero) and
// wakes the group for what it reads. Delayed jobs that have fallen due are waiting jobs: RabbitMQ's
// broker moves them into the queue itself and NATS counts them as soon as their due second has
// passed, but on Redis only a running worker moves them from the `:delayed` set into the stream,
// and `depth()` counted them as `delayed` instead: 1 job published now and 2 due read depth 1
// (NATS and RabbitMQ: 3), and with only due jobs a scaler at zero read 0 and never woke for them.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type BackendName, createQueue } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

for (const backend of ['redis', 'nats', 'rabbitmq'] as BackendName[]) {
  test(`depth counts delayed jobs once due, before any worker runs; the rest stay delayed (${backend})`, async () => {
    const queue = createQueue(backendOptions(backend));
    const name = uniqueName('depth-due');
    after(async () => {
      await queue.destroy(name).catch(() => {});
      await queue.close();
    });
    await queue.publish(name, 'now');
    await queue.publish(name, 'due', { delay: 100 });
    await queue.publish(name, 'due', { delay: 100 });
    await queue.publish(name, 'later', { delay: 600_000 });
    let last = await queue.depth(name);
    await waitFor(async () => {
      last = await queue.depth(name);
      return last.depth === 3;
    }, 'the two due jobs to count as waiting').catch(() =>
      assert.fail(`depth ${last.depth} (delayed ${last.delayed}), not 3: due jobs left out`),
    );
    // RabbitMQ does not report delayed jobs over AMQP; where a backend does, only the one not due.
    if (last.delayed !== undefined) assert.equal(last.delayed, 1, 'only the job not due is delayed');
    assert.equal(last.pending ?? 0, 0, 'nothing is in flight');
  });
}
