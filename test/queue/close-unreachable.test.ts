// A worker stopped on scale-in calls close() and exits when it returns. With its broker
// unreachable, close() never returned: a worker that had never subscribed waited for its
// subscription for good, and one whose broker stopped answering waited for its consumer's stop
// (RabbitMQ's cancel, Redis's UNBLOCK, NATS's open pull), so the process stayed up until the
// SIGKILL after `stop_timeout`. Now each step waits on the broker at most BROKER_GRACE (5 s).
// The bound below only turns a hang into a failure; nothing here measures how long close() takes.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { type BackendName, createQueue, type QueueOptions } from '../../src/queue/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
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

/** closedPort is a port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
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
