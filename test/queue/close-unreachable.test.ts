// A worker stopped on scale-in calls close() and exits when it returns. With its broker
// unreachable, close() never returned: a worker that had never subscribed waited for its
// subscription for good, and one whose broker stopped answering waited for its consumer's stop
// (RabbitMQ's cancel, Redis's UNBLOCK, NATS's open pull), so the process stayed up until the
// SIGKILL after `stop_timeout`. Now each step waits on the broker at most BROKER_GRACE (5 s).
// The bound below only turns a hang into a failure; nothing here measures how long close() takes.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type BackendName, createQueue, type QueueOptions } from '../../src/queue/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { closedPort } from '../helpers/ports.js';
import { uniqueName } from './helpers.js';

const HANG = 30_000;
const ports: Record<BackendName, number> = { rabbitmq: 5672, redis: 6379, nats: 4222 };

function optionsAt(backend: BackendName, port: number): QueueOptions {
  switch (backend) {
    case 'rabbitmq':
      return { backend, url: `amqp://guest:guest@127.0.0.1:${port}` };
    case 'redis':
      return { backend, redis: `redis://127.0.0.1:${port}` };
    case 'nats':
      return { backend, servers: `127.0.0.1:${port}` };
  }
}

async function returns(what: string, closing: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HANG);
  });
  const outcome = await Promise.race([closing.then(() => 'returned' as const), hung]);
  clearTimeout(timer);
  assert.equal(outcome, 'returned', `${what} still pending after ${HANG} ms`);
}

// Side by side: each case waits on timers (two BROKER_GRACE steps at most) and owns its proxy,
// queue names and connections; one after another they took about 58 s.
describe('close() with the broker unreachable', { concurrency: true }, () => {
  for (const backend of ['rabbitmq', 'redis', 'nats'] as BackendName[]) {
    test(`close() returns while the broker was never reachable (${backend})`, async () => {
      const queue = createQueue({
        ...optionsAt(backend, await closedPort()),
        reconnect: { initial: 50, max: 200 },
      });
      queue.on('error', () => {});
      const worker = queue.worker(uniqueName('unreachable'), () => {});
      worker.on('error', () => {});
      await returns('worker.close()', worker.close());
      await returns('queue.close()', queue.close());
    });

    test(`close() returns with a job in flight once the broker stops answering (${backend})`, async () => {
      const proxy = await pausableProxy(ports[backend]);
      const queue = createQueue(optionsAt(backend, proxy.port));
      const direct = createQueue(optionsAt(backend, ports[backend]));
      const name = uniqueName('paused');
      after(async () => {
        await direct.destroy(name).catch(() => {});
        await direct.close();
        await proxy.close();
      });
      queue.on('error', () => {});
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const worker = queue.worker(
        name,
        async (_payload, job) => {
          started();
          await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
        },
        { closeTimeout: 0, stallTimeout: 1000 },
      );
      worker.on('error', () => {});
      await worker.ready;
      await direct.publish(name, 'job');
      await running;
      proxy.pause();
      await returns('worker.close()', worker.close());
      await returns('queue.close()', queue.close());
    });
  }
});

// After a failed pull a Redis or NATS worker backs off on the reconnect schedule (up to 10 s by
// default) before it pulls again, and its consumer's stop() waited that out: close() on a worker
// whose pulls were failing (a broker restarting, a group deleted under it) spent it in the stop
// step, past BROKER_GRACE, and reported `stop of … not done 5000 ms into it`. Now stop() ends the
// backoff. The group is deleted to fail one pull (NOGROUP) with the broker up; the worker makes it
// again and backs off 8 s.
test('close() ends the backoff after a failed pull (redis)', async () => {
  const { Redis } = await import('ioredis');
  const redis = new Redis(`redis://127.0.0.1:${ports.redis}`);
  const queue = createQueue({
    ...optionsAt('redis', ports.redis),
    reconnect: { initial: 8_000, max: 8_000, jitter: 0 },
  });
  const name = uniqueName('pull-backoff');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    redis.disconnect();
  });
  // The pull's own failure: the claim round's prune of consumers fails NOGROUP too, before it backs off.
  const pullFailed = new Promise<void>((resolve) =>
    queue.on('error', (error: Error) => {
      if (/^redis consumer .*NOGROUP/.test(error.message)) resolve();
    }),
  );
  const worker = queue.worker(name, () => {});
  const errors: string[] = [];
  worker.on('error', (error: Error) => errors.push(error.message));
  await worker.ready;
  await redis.xgroup('DESTROY', `sp:{${name}}:stream`, 'workers');
  await pullFailed;
  await returns('worker.close()', worker.close());
  assert.deepEqual(errors, [], 'close() waited out the backoff of the failed pull in its stop step');
});
