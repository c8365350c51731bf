// A job whose worker died is taken over by another worker with XAUTOCLAIM once idle for
// stallTimeout. XAUTOCLAIM scans at most 10 × COUNT pending entries a call and returns the cursor
// where it stopped; the worker asked with COUNT = its free slots and always from the start of the
// pending list, so a stalled entry behind 10 × free entries that live workers are still running
// (long jobs published before it) was never reached: stuck, unrun, for as long as those ran.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

test('a stalled job behind 11 long-running ones is claimed by a worker with one free slot (Redis)', async () => {
  const queue = createQueue(backendOptions('redis'));
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const name = uniqueName('claimscan');
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  after(async () => {
    release();
    await queue.destroy(name).catch(() => {});
    await queue.close();
    redis.disconnect();
  });
  const stallTimeout = 500;
  // 11 long jobs, run (and kept fresh by heartbeats) by a live worker with no free slot.
  for (let i = 0; i < 11; i++) await queue.publish(name, `long-${i}`);
  const running = new Set<unknown>();
  const busy = queue.worker(
    name,
    async (payload) => {
      running.add(payload);
      await released;
    },
    { concurrency: 11, stallTimeout },
  );
  await waitFor(() => running.size === 11, 'the 11 long jobs running');
  // Then one job read by a consumer that dies at once: it stays in the pending list, unacked.
  await queue.publish(name, 'stalled');
  const { stream } = redisKeys('sp', name);
  const read = (await redis.xreadgroup(
    'GROUP',
    'workers',
    'dead-consumer',
    'COUNT',
    1,
    'STREAMS',
    stream,
    '>',
  )) as [string, [string, string[]][]][] | null;
  assert.equal(read?.[0]?.[1].length, 1, 'the dead consumer took the job');
  const ran: unknown[] = [];
  const rescuer = queue.worker(name, (payload) => void ran.push(payload), { concurrency: 1, stallTimeout });
  // Claimable after 500 ms idle; the rescuer looks every 250 ms.
  await waitFor(() => ran.length > 0, 'the stalled job to be claimed and run', 5000);
  assert.deepEqual(ran, ['stalled']);
  release();
  await busy.close();
  await rescuer.close();
});
