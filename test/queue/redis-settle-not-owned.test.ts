// A Redis worker retries or dead-letters a job through SETTLE, which writes nothing when the entry
// is no longer its own (another worker claimed it as stalled, and will settle it). The worker did
// not know: it emitted `dead-lettered` (or `retrying`) and counted it, so the dead-letter counter
// said 1 while the dead-letter queue held 0, and the job went on to complete on the other worker.
// Now such a settle fails the delivery with QUEUE_BACKEND naming the claim, reported as an `error`,
// and nothing is emitted or counted for it.
//
// Driven as in redis-heartbeat-owner.test.ts: setInterval is mocked, so worker A never refreshes
// its entry and worker B (shorter stallTimeout) claims it while A's handler still runs.
import assert from 'node:assert/strict';
import { after, mock, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createQueue, type QueueError, redisKeys, UnrecoverableError } from '../../src/queue/index.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

test('a dead letter of an entry another worker claimed is not counted nor emitted (Redis)', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  const options = { ...backendOptions('redis'), prefix: uniqueName('settle') };
  const registry = new Registry();
  const queueA = createQueue({ ...options, registry });
  const queueB = createQueue(options);
  const name = uniqueName('settle-not-owned');
  let failA: () => void = () => {};
  const aMayFail = new Promise<void>((resolve) => {
    failA = resolve;
  });
  let finishB: () => void = () => {};
  const bMayFinish = new Promise<void>((resolve) => {
    finishB = resolve;
  });
  after(async () => {
    failA();
    finishB();
    // Closed first: a running worker makes its group (and stream) again once they are deleted.
    await queueA.close();
    await queueB.close();
    mock.timers.reset();
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    await redis.del(...Object.values(redisKeys(options.prefix, name)));
    redis.disconnect();
  });

  let aStarted = false;
  const workerA = queueA.worker(
    name,
    async () => {
      aStarted = true;
      await aMayFail;
      throw new UnrecoverableError('gives up');
    },
    { stallTimeout: 30_000 },
  );
  const aDeadLettered: string[] = [];
  const aErrors: QueueError[] = [];
  workerA.on('dead-lettered', (event: { reason: string }) => aDeadLettered.push(event.reason));
  workerA.on('error', (error: QueueError) => aErrors.push(error));
  await workerA.ready;
  await queueA.publish(name, 'job', { id: 'the-job' });
  await waitFor(() => aStarted, 'worker A running the job');

  const bAttempts: number[] = [];
  let bCompleted = 0;
  const workerB = queueB.worker(
    name,
    async (_payload, job) => {
      bAttempts.push(job.attempt);
      await bMayFinish;
    },
    { stallTimeout: 300 },
  );
  workerB.on('completed', () => bCompleted++);
  await waitFor(() => bAttempts.length === 1, 'worker B claiming the entry', 5000);

  failA();
  await waitFor(() => aDeadLettered.length > 0 || aErrors.length > 0, "A's dead letter to settle");
  finishB();
  await waitFor(() => bCompleted === 1, 'B completing the job');

  const counted =
    (await registry.getSingleMetric('scaleplane_queue_jobs_dead_lettered_total')?.get())?.values.find(
      (v) => v.labels.queue === name,
    )?.value ?? 0;
  const letters = await queueA.dlq(name).list();
  assert.equal(letters.length, 0, 'nothing was dead-lettered: B holds the job');
  assert.deepEqual(aDeadLettered, [], "A emits no 'dead-lettered' for it");
  assert.equal(counted, 0, 'the dead-letter counter agrees with the dead-letter queue');
  assert.equal(aErrors.length, 1, `A reports the lost claim once: ${aErrors.map((e) => e.message)}`);
  assert.match(
    String(aErrors[0]?.cause ?? aErrors[0]),
    /claimed by another worker/,
    'the error names the claim',
  );
});
