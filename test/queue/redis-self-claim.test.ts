// A Redis worker's stalled-job round (XAUTOCLAIM of entries idle past stallTimeout) does not tell
// the entries it is running itself from those of dead workers. When its heartbeat came late (an
// event loop blocked past stallTimeout, a slow Redis), the worker claimed its own running entry and
// ran the job a second time beside the first, in the same process, counted as a stall. Now an
// entry it already holds is left to the run it has: the claim only refreshed it.
//
// setInterval is mocked, so the worker's heartbeat never runs: its running entry goes idle as it
// would with the heartbeat late, while its claim rounds (on the real clock) go on.
import assert from 'node:assert/strict';
import { after, mock, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

test('a worker does not claim and run again a job it is still running (Redis)', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  const prefix = uniqueName('selfclaim');
  const options = { ...backendOptions('redis'), prefix };
  const queue = createQueue(options);
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const name = uniqueName('self-claim');
  let finish: () => void = () => {};
  const mayFinish = new Promise<void>((resolve) => {
    finish = resolve;
  });
  after(async () => {
    finish();
    // Closed first: a running worker makes its group (and stream) again once they are deleted.
    await queue.close();
    mock.timers.reset();
    await redis.del(...Object.values(redisKeys(prefix, name)));
    redis.disconnect();
  });
  const runs: number[] = [];
  let completed = 0;
  // Two slots: one runs the job, the other keeps the claim rounds going (every 150 ms).
  const worker = queue.worker(
    name,
    async (_payload, job) => {
      runs.push(job.attempt);
      await mayFinish;
    },
    { stallTimeout: 300, concurrency: 2 },
  );
  worker.on('completed', () => completed++);
  await worker.ready;
  await queue.publish(name, 'job');
  await waitFor(() => runs.length === 1, 'the job running');
  // Idle past stallTimeout and several claim rounds (each a free slot's pull of at most 1 s).
  const claimable = Date.now() + 300 + 3 * 1150;
  await waitFor(() => runs.length > 1 || Date.now() > claimable, 'a second run, or three claim rounds', 6000);
  assert.deepEqual(runs, [1], 'the job runs once while its first run goes on');
  // Each claim raised the entry's delivery count, which counts stalls should the worker die later.
  const [[, , , count]] = (await redis.xpending(redisKeys(prefix, name).stream, 'workers', '-', '+', 1)) as [
    [string, string, number, number],
  ];
  assert.equal(count, 1, 'its delivery count stays 1: no stall counted');
  finish();
  await waitFor(() => completed === 1, 'the job completed');
});
