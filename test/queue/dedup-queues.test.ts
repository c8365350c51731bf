// A dedup store is shared by the workers of several queues (README: `dedup:
// createRedisDedupStore(redis)`), and a job id of one's own is often a business id (an order's),
// the same in each queue a step of that order goes to. Before, a done mark was kept by job id
// alone: once `order-42` completed in one queue, the job `order-42` of another queue was taken for
// a redelivery, acked unrun and reported `skipped`: lost. Now a mark holds for its own queue only.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, createRedisDedupStore } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

test('a job done in one queue does not make the job of the same id in another queue skipped', async () => {
  const queue = createQueue(backendOptions('redis'));
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `${uniqueName('dedup-queues')}:`;
  const dedup = createRedisDedupStore(redis, { prefix });
  const [emails, invoices] = [uniqueName('dedup-emails'), uniqueName('dedup-invoices')];
  after(async () => {
    await Promise.all([emails, invoices].map((name) => queue.destroy(name).catch(() => {})));
    await queue.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const outcome = new Map<string, string>();
  const ran: string[] = [];
  for (const name of [emails, invoices]) {
    const worker = queue.worker(name, (payload) => void ran.push(String(payload)), {
      dedup,
      stallTimeout: 1000,
    });
    worker.on('completed', () => outcome.set(name, 'completed'));
    worker.on('skipped', () => outcome.set(name, 'skipped'));
    await worker.ready;
  }
  await queue.publish(emails, 'email for order 42', { id: 'order-42' });
  await waitFor(() => outcome.has(emails), 'the email job to settle');
  await queue.publish(invoices, 'invoice for order 42', { id: 'order-42' });
  await waitFor(() => outcome.has(invoices), 'the invoice job to settle');
  assert.deepEqual(
    Object.fromEntries(outcome),
    { [emails]: 'completed', [invoices]: 'completed' },
    `each queue's job runs once; handlers ran: ${JSON.stringify(ran)}`,
  );
  assert.deepEqual(ran, ['email for order 42', 'invoice for order 42']);
});

test('a redelivered job is still skipped in its own queue', async () => {
  const queue = createQueue(backendOptions('redis'));
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `${uniqueName('dedup-same')}:`;
  const dedup = createRedisDedupStore(redis, { prefix });
  const name = uniqueName('dedup-same');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const outcomes: string[] = [];
  const worker = queue.worker(name, () => {}, { dedup, stallTimeout: 1000 });
  worker.on('completed', () => outcomes.push('completed'));
  worker.on('skipped', () => outcomes.push('skipped'));
  await worker.ready;
  await queue.publish(name, 'a', { id: 'order-7' });
  await waitFor(() => outcomes.length === 1, 'the first copy to settle');
  await queue.publish(name, 'a', { id: 'order-7' });
  await waitFor(() => outcomes.length === 2, 'the second copy to settle');
  assert.deepEqual(outcomes, ['completed', 'skipped']);
});
