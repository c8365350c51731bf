// `publish` promises QUEUE_PUBLISH_TIMEOUT once the broker has not confirmed a job within
// `publishTimeout`. The signal was left to each backend, and none looked at it while waiting to
// connect: with the broker unreachable from the start, publish() stayed pending on all three (still
// pending 8 s into a 1.5 s publishTimeout), and on Redis, whose commands wait across reconnects,
// also once a used queue's server stopped answering. A producer awaiting it (an HTTP handler) hung
// with it. The bound below only turns a hang into a failure; nothing here measures how long it takes.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type BackendName, createQueue, type QueueError, type QueueOptions } from '../../src/queue/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { closedPort } from '../helpers/ports.js';
import { uniqueName } from './helpers.js';

const HANG = 15_000;
const PUBLISH_TIMEOUT = 1000;
const ports: Record<BackendName, number> = { rabbitmq: 5672, redis: 6379, nats: 4222 };

function optionsAt(backend: BackendName, port: number): QueueOptions {
  const common = { publishTimeout: PUBLISH_TIMEOUT, reconnect: { initial: 50, max: 200 } };
  switch (backend) {
    case 'rabbitmq':
      return { backend, url: `amqp://guest:guest@127.0.0.1:${port}`, ...common };
    case 'redis':
      return { backend, redis: `redis://127.0.0.1:${port}`, ...common };
    case 'nats':
      return { backend, servers: `127.0.0.1:${port}`, ...common };
  }
}

/** outcomeOf says how `publish` ended: its error code, 'stored', or 'pending' after HANG ms. */
async function outcomeOf(publish: Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still pending after ${HANG} ms`), HANG);
  });
  const outcome = await Promise.race([
    publish.then(
      () => 'stored',
      (error: QueueError) => error.code,
    ),
    hung,
  ]);
  clearTimeout(timer);
  return outcome;
}

describe('publish with the broker unreachable', { concurrency: true }, () => {
  for (const backend of ['rabbitmq', 'redis', 'nats'] as BackendName[]) {
    test(`publish rejects with QUEUE_PUBLISH_TIMEOUT while the broker was never reachable (${backend})`, async () => {
      const queue = createQueue(optionsAt(backend, await closedPort()));
      queue.on('error', () => {});
      after(() => queue.close());
      const outcome = await outcomeOf(queue.publish(uniqueName('never-reached'), 'job'));
      assert.equal(outcome, 'QUEUE_PUBLISH_TIMEOUT', 'an unconfirmed publish ends at publishTimeout');
    });

    test(`depth, the dead-letter calls and destroy reject with QUEUE_CONNECTION while the broker was never reachable (${backend})`, async () => {
      // Before, each stayed pending for as long as the broker was unreachable.
      const queue = createQueue(optionsAt(backend, await closedPort()));
      queue.on('error', () => {});
      after(() => queue.close());
      const name = uniqueName('never-reached');
      const calls: [string, () => Promise<unknown>][] = [
        ['depth', () => queue.depth(name)],
        ['dlq.list', () => queue.dlq(name).list()],
        ['dlq.retry', () => queue.dlq(name).retry()],
        ['dlq.purge', () => queue.dlq(name).purge()],
        ['destroy', () => queue.destroy(name)],
      ];
      const outcomes = await Promise.all(
        calls.map(async ([what, call]) => `${what}: ${await outcomeOf(call())}`),
      );
      assert.deepEqual(
        outcomes,
        calls.map(([what]) => `${what}: QUEUE_CONNECTION`),
        'each ends at publishTimeout',
      );
    });

    test(`publish rejects with QUEUE_PUBLISH_TIMEOUT once a used queue's broker stops answering (${backend})`, async () => {
      const proxy = await pausableProxy(ports[backend]);
      const queue = createQueue(optionsAt(backend, proxy.port));
      const direct = createQueue(optionsAt(backend, ports[backend]));
      const name = uniqueName('paused-publish');
      queue.on('error', () => {});
      after(async () => {
        await direct.destroy(name).catch(() => {});
        await direct.close();
        await queue.close();
        await proxy.close();
      });
      // Used: connected, the queue declared, a job confirmed. On a loaded machine the first publish's
      // connect and declare outlasted the 1 s publishTimeout (a fresh CI run beside other work), so
      // it is tried again, a few times, until one is confirmed.
      for (let tries = 1; ; tries++) {
        const before = await outcomeOf(queue.publish(name, `before ${tries}`));
        if (before === 'stored') break;
        assert.ok(tries < 5 && before === 'QUEUE_PUBLISH_TIMEOUT', `publish before the pause: ${before}`);
      }
      proxy.pause();
      const outcome = await outcomeOf(queue.publish(name, 'while paused'));
      assert.equal(outcome, 'QUEUE_PUBLISH_TIMEOUT', 'an unconfirmed publish ends at publishTimeout');
    });
  }
});
