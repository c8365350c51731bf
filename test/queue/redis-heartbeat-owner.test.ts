// A Redis worker keeps the entries it runs from being claimed as stalled by XCLAIMing them to
// itself every stallTimeout/3 (idle time back to 0). That XCLAIM took any entry, whoever held it:
// once another worker had claimed the entry (the first worker's event loop was blocked, or its
// stallTimeout was longer than the claimer's), the first worker's next heartbeat moved it back.
// The claimer's retry then found the entry no longer its own and wrote nothing (SETTLE returns 0),
// and the entry, still pending, was claimed once more and dead-lettered as StallLimit: a job that
// had simply failed once, with retries left, never retried. Now the heartbeat refreshes only the
// entries its consumer still owns.
//
// The interleaving is driven, not waited for: setInterval is mocked, so a heartbeat fires only when
// the test ticks it, and only worker A's interval (50 ms) is due at the first tick of 50 ms.
import assert from 'node:assert/strict';
import { after, mock, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, type JobContext, redisKeys } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

test("a worker's heartbeat does not take back an entry another worker claimed (Redis)", async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  // Both queues on one prefix of this test's own, as two processes of one worker group.
  const options = { ...backendOptions('redis'), prefix: uniqueName('hb') };
  const queueA = createQueue(options);
  const queueB = createQueue(options);
  const name = uniqueName('heartbeat-owner');
  let releaseA: () => void = () => {};
  const aHeld = new Promise<void>((resolve) => {
    releaseA = resolve;
  });
  after(async () => {
    releaseA();
    // Closed first: a running worker makes its group (and stream) again once they are deleted.
    await queueA.close();
    await queueB.close();
    mock.timers.reset();
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    await redis.del(...Object.values(redisKeys(options.prefix, name)));
    redis.disconnect();
  });

  // A: stallTimeout 150 → heartbeat every 50 ms (mocked); busy with the job, it never claims.
  const aRuns: JobContext[] = [];
  const workerA = queueA.worker(
    name,
    async (_payload, job) => {
      aRuns.push(job);
      await aHeld;
    },
    { stallTimeout: 150 },
  );
  await workerA.ready;
  await queueA.publish(name, 'job', { id: 'the-job' });
  await waitFor(() => aRuns.length === 1, 'worker A running the job');

  // B: claims entries idle for 300 ms; A's heartbeat does not fire until ticked, so B claims it.
  const bRuns: number[] = [];
  const deadLettered: string[] = [];
  let failFirstRun: () => void = () => {};
  const firstRunMayFail = new Promise<void>((resolve) => {
    failFirstRun = resolve;
  });
  const workerB = queueB.worker(
    name,
    async (_payload, job) => {
      bRuns.push(job.attempt);
      if (bRuns.length === 1) {
        await firstRunMayFail;
        throw new Error('fails once');
      }
    },
    { stallTimeout: 300, backoff: { initial: 0, max: 0, jitter: 0 } },
  );
  workerB.on('dead-lettered', (event: { reason: string }) => deadLettered.push(event.reason));
  await waitFor(() => bRuns.length === 1, 'worker B claiming the stalled entry', 5000);
  assert.deepEqual(bRuns, [2], 'B runs the claimed entry as attempt 2');

  // A's heartbeat, now, while B still runs the job. Commands on A's connection are answered in
  // order: two round trips after it (the second covers a script loaded on NOSCRIPT) mean it was done.
  mock.timers.tick(50);
  await queueA.depth(name);
  await queueA.depth(name);

  // B's attempt fails; its retry must be written, and run as attempt 3.
  failFirstRun();
  await waitFor(
    () => bRuns.length === 2 || deadLettered.length > 0,
    "B's retry to run (or the job to be dead-lettered)",
    5000,
  );
  assert.deepEqual(deadLettered, [], 'the job is not dead-lettered');
  assert.deepEqual(bRuns, [2, 3], "B's retry runs as attempt 3");
});
