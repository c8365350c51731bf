// RabbitMQ blocks a connection that publishes while a memory (or disk) alarm is on: it stops reading
// it, acks included. The queue ran consumers on its one connection, so a worker whose handler
// published once during an alarm (a follow-up job, a retry, a dead letter) acked nothing more until
// the alarm cleared, and consumers acking is what frees the broker's memory. Measured: jobs done
// 0.5 s into an alarm completed only when it was cleared 6 s later. Consumers now run on a
// connection of their own. The alarm is raised on a private broker (its own node, ports and
// folder), never the shared one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createQueue } from '../../src/queue/index.js';
import { OwnRabbit } from './fixtures/own-rabbit.js';
import { uniqueName, waitFor } from './helpers.js';

let rabbit: OwnRabbit;
before(async () => {
  rabbit = await OwnRabbit.start();
});
after(async () => {
  await rabbit?.close();
});

test('a worker acks its jobs during a memory alarm although its handler published (RabbitMQ)', async () => {
  const queue = createQueue({ backend: 'rabbitmq', url: rabbit.url, publishTimeout: 2000 });
  queue.on('error', () => {});
  const name = uniqueName('blocked');
  after(async () => {
    await rabbit.ctl('set_vm_memory_high_watermark', '0.4').catch(() => {});
    await queue.destroy(name).catch(() => {});
    await queue.destroy(`${name}-next`).catch(() => {});
    await queue.close();
  });
  for (const payload of ['publishes', 'plain-1', 'plain-2']) await queue.publish(name, payload);
  let raise!: () => void;
  const alarmOn = new Promise<void>((resolve) => {
    raise = resolve;
  });
  let published!: () => void;
  const publishTried = new Promise<void>((resolve) => {
    published = resolve;
  });
  const completed: string[] = [];
  const worker = queue.worker(
    name,
    async (payload) => {
      await alarmOn;
      // A handler publishing a follow-up job through the worker's own queue object: refused
      // (blocked) while the alarm lasts, which must not hold the other jobs' acks.
      if (payload === 'publishes') {
        await queue.publish(`${name}-next`, 'follow-up').catch(() => {});
        published();
        return;
      }
      await publishTried;
    },
    { concurrency: 3, closeTimeout: 0 },
  );
  worker.on('completed', (event) => completed.push(event.id));
  worker.on('error', () => {});
  await waitFor(() => worker.inFlight === 3, 'the three jobs to be running');
  await rabbit.ctl('set_vm_memory_high_watermark', '0.000001');
  raise();
  await publishTried;
  // The alarm stays on: the two plain jobs must complete now, not once it is cleared.
  await waitFor(() => completed.length >= 2, 'the two plain jobs to be acked during the alarm', 10_000).catch(
    () => assert.fail(`${completed.length} of the jobs done during the alarm were acked (want 2 or more)`),
  );
});
