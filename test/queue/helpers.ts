import { randomBytes } from 'node:crypto';
import type { BackendName, QueueOptions } from '../../src/queue/index.js';

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

/** sleep resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
