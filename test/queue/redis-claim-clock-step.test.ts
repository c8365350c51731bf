// A worker looks for jobs stalled elsewhere (XAUTOCLAIM) every stallTimeout / 2. That interval was
// timed on Date.now: a step back of the system clock (NTP, a VM resumed, `date -s`) after a claim
// round held the next one off for as long as the step, and a job whose worker died meanwhile stayed
// unrun. The step is made by replacing Date.now; performance.now, the monotonic clock, is left
// alone, and Redis times the entries' idle time itself.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

test('a step back of the system clock does not hold off claiming a stalled job (Redis)', async (t) => {
  const queue = createQueue(backendOptions('redis'));
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const name = uniqueName('claimstep');
  const real = Date.now;
  const restore = () => {
    Date.now = real;
  };
  t.after(restore);
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    redis.disconnect();
  });
  const stallTimeout = 500;
  const ran: unknown[] = [];
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  after(() => release());
  // The worker's first pull, a claim round, brings it the first job, which it runs until released:
  // with its one slot taken it reads nothing meanwhile.
  await queue.publish(name, 'first');
  const rescuer = queue.worker(
    name,
    async (payload) => {
      ran.push(payload);
      if (payload === 'first') await released;
    },
    { concurrency: 1, stallTimeout },
  );
  await waitFor(() => ran.includes('first'), 'the first job to run', 5000);
  Date.now = () => real() - 10 * 60_000;
  // One job read by a consumer that dies at once: it stays in the pending list, unacked.
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
  release();
  // Claimable after 500 ms idle; the rescuer looks every 250 ms by the monotonic clock.
  await waitFor(() => ran.includes('stalled'), 'the stalled job to be claimed and run', 5000).catch(() => {});
  restore();
  assert.deepEqual(ran, ['first', 'stalled'], 'the stalled job was claimed and run despite the step');
  await rescuer.close();
});
