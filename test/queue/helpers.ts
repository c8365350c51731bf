import { randomBytes } from 'node:crypto';
import type { BackendName, Queue, QueueOptions, Worker, WorkerOptions } from '../../src/queue/index.js';

/** uniqueName gives each run its own queue, so parallel and repeated runs never share state. */
export function uniqueName(tag: string): string {
  return `t-${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** backendOptions points a backend at the real broker on this machine. */
export function backendOptions(backend: BackendName): QueueOptions {
  switch (backend) {
    case 'rabbitmq':
      // RABBITMQ_QUEUE_TYPE=classic runs the same tests on classic queues (default quorum).
      return {
        backend,
        url: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
        ...(process.env.RABBITMQ_QUEUE_TYPE === 'classic' ? { queueType: 'classic' as const } : {}),
      };
    case 'redis':
      return { backend, redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
    case 'nats':
      return { backend, servers: process.env.NATS_URL ?? '127.0.0.1:4222' };
  }
}

/** waitFor polls `condition` until it holds, failing with `what` after `timeout` ms. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeout = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * failingOnceWorker starts a worker on `name` whose every job fails its first attempt and succeeds
 * on its retry, so each job goes through a retry (with `options`' retries and backoff) once.
 * `completed` holds the ids of the jobs that succeeded.
 */
export function failingOnceWorker(
  queue: Queue,
  name: string,
  options: WorkerOptions,
): { worker: Worker; completed: Set<string> } {
  const attempts = new Map<string, number>();
  const completed = new Set<string>();
  const worker = queue.worker(
    name,
    (_payload, job) => {
      const n = (attempts.get(job.id) ?? 0) + 1;
      attempts.set(job.id, n);
      if (n === 1) throw new Error('first attempt fails');
      completed.add(job.id);
    },
    options,
  );
  return { worker, completed };
}

/**
 * deadLetteringWorker starts a worker on `name` whose every job fails with no retry, so each job is
 * dead-lettered at its first run; `dead` holds their ids, in order. Resolves once it consumes.
 */
export async function deadLetteringWorker(
  queue: Queue,
  name: string,
): Promise<{ worker: Worker; dead: string[] }> {
  const dead: string[] = [];
  const worker = queue.worker(
    name,
    () => {
      throw new Error('always fails');
    },
    { retries: 0 },
  );
  worker.on('dead-lettered', (event: { id: string }) => dead.push(event.id));
  await worker.ready;
  return { worker, dead };
}

/** sleep resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * publishRaw puts `body` on a queue's broker object as another producer would (not through
 * `Queue.publish`, so not wrapped in a job envelope): the RabbitMQ queue, the Redis stream (with no
 * `job` field when `body` is undefined), or the JetStream subject. The queue's objects must exist.
 */
export async function publishRaw(
  backend: BackendName,
  queue: string,
  body: string | undefined,
): Promise<void> {
  switch (backend) {
    case 'rabbitmq': {
      const { connect } = await import('amqplib');
      const url = (backendOptions('rabbitmq') as { url: string }).url;
      const connection = await connect(url);
      try {
        const channel = await connection.createConfirmChannel();
        channel.sendToQueue(`sp.${queue}`, Buffer.from(body ?? ''), { persistent: true });
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
        const fields = body === undefined ? ['other', 'x'] : ['job', body];
        await redis.xadd(`sp:{${queue}}:stream`, '*', ...fields);
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
        await jetstream(nc).publish(`sp.q.${queue}`, new TextEncoder().encode(body ?? ''));
      } finally {
        await nc.close();
      }
      return;
    }
  }
}
