// On JetStream a delayed job is stored at once and a worker that pulls it early naks it for the
// rest of its delay, so the consumer's counts (num_pending, num_ack_pending) held delayed jobs not
// due yet: `depth` and the NATS metric source counted them, though DepthReading documents "not
// counting delayed" (Redis keeps them in a sorted set, RabbitMQ in TTL queues). A group scaled to
// zero woke for a job due in an hour and idled. Measured before the fix: 4 jobs delayed 60 s and 2
// due, no worker running: depth 6, metric source [6]. Now delayed jobs are published on subjects
// naming their due second and the readings leave the ones not due out (src/queue/nats/delayed.ts).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsSource } from '../../src/metrics/nats.js';
import { createQueue } from '../../src/queue/index.js';
import { delayedPatternOf, delayedSubject, notDueCount, splitBacklog } from '../../src/queue/nats/delayed.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

const options = backendOptions('nats');
const url = process.env.NATS_URL ?? '127.0.0.1:4222';

test('depth and the NATS metric source leave out delayed jobs not due yet, and count them once due', async () => {
  const queue = createQueue(options);
  const name = uniqueName('delaydepth');
  const metric = new NatsSource({ url, stream: `SP_${name}`, consumer: 'workers' });
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    await metric.close();
  });
  // A group that ran once and was scaled to zero: the consumer exists, no worker is running.
  const worker = queue.worker(name, () => {});
  await worker.ready;
  await worker.close();
  for (let i = 0; i < 4; i++) await queue.publish(name, i, { delay: 60_000 });
  await queue.publish(name, 'now-1');
  await queue.publish(name, 'now-2');
  const reading = await queue.depth(name);
  assert.deepEqual(
    { depth: reading.depth, pending: reading.pending, delayed: reading.delayed },
    { depth: 2, pending: 0, delayed: 4 },
  );
  assert.deepEqual(await metric.read(), [2]);
  // Jobs delayed 1 s are counted once due (their due second has passed).
  for (let i = 0; i < 3; i++) await queue.publish(name, `soon-${i}`, { delay: 1000 });
  await waitFor(
    async () => (await queue.depth(name)).depth === 5,
    'the 3 jobs delayed 1 s to be counted',
    5000,
  );
  assert.deepEqual(await metric.read(), [5]);
  assert.equal((await queue.depth(name)).delayed, 4);
});

test('a running worker holding delayed jobs (pulled early, nak-ed) does not count them as pending', async () => {
  const queue = createQueue(options);
  const name = uniqueName('delaypend');
  const metric = new NatsSource({ url, stream: `SP_${name}`, consumer: 'workers' });
  const nc = await connect({ servers: url });
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    await metric.close();
    await nc.close();
  });
  const worker = queue.worker(name, () => {});
  await worker.ready;
  for (let i = 0; i < 3; i++) await queue.publish(name, i, { delay: 60_000 });
  const jsm = await jetstreamManager(nc);
  await waitFor(
    async () => (await jsm.consumers.info(`SP_${name}`, 'workers')).num_ack_pending === 3,
    'the worker to pull the 3 delayed jobs and nak them',
  );
  const reading = await queue.depth(name);
  assert.deepEqual(
    { depth: reading.depth, pending: reading.pending, delayed: reading.delayed },
    { depth: 0, pending: 0, delayed: 3 },
  );
  assert.deepEqual(await metric.read(), [0]);
  await worker.close();
});

// A retry used to be a nak with its backoff: the job stayed on the queue's own subject, unacked, so
// it counted as pending while it could not run. Measured before the fix: 3 jobs each waiting out a
// 60 s retry backoff, worker running: pending 3, metric source [3]. Now a retry is published anew
// as a delayed job (its due-second subject) and the old copy acked.
test('retries waiting out their backoff are left out of depth and the NATS metric source', async () => {
  const queue = createQueue(options);
  const name = uniqueName('retrydepth');
  const metric = new NatsSource({ url, stream: `SP_${name}`, consumer: 'workers' });
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    await metric.close();
  });
  const worker = queue.worker(
    name,
    (payload, job) => {
      if (job.attempt === 1) throw new Error(`first attempt of ${String(payload)} fails`);
    },
    { retries: 1, backoff: { initial: 60_000, factor: 1, max: 60_000, jitter: 0 } },
  );
  let retrying = 0;
  worker.on('retrying', () => retrying++);
  await worker.ready;
  for (let i = 0; i < 3; i++) await queue.publish(name, `slow-${i}`);
  await waitFor(() => retrying === 3, 'the 3 jobs to fail and wait out their retry backoff');
  assert.deepEqual(await metric.read(), [0]);
  const reading = await queue.depth(name);
  assert.deepEqual(
    { depth: reading.depth, pending: reading.pending, delayed: reading.delayed },
    { depth: 0, pending: 0, delayed: 3 },
  );
  await worker.close();
});

test('a retry published as a delayed job runs once due, as the next attempt', async () => {
  const queue = createQueue(options);
  const name = uniqueName('retryrun');
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const attempts: number[] = [];
  const worker = queue.worker(
    name,
    (_payload, job) => {
      attempts.push(job.attempt);
      if (job.attempt === 1) throw new Error('first attempt fails');
    },
    { retries: 1, backoff: { initial: 500, factor: 1, max: 500, jitter: 0 } },
  );
  let completed = 0;
  worker.on('completed', () => completed++);
  await worker.ready;
  await queue.publish(name, 'x');
  await waitFor(() => completed === 1, 'the retry to run');
  assert.deepEqual(attempts, [1, 2]);
  const reading = await queue.depth(name);
  assert.deepEqual(
    { depth: reading.depth, pending: reading.pending, delayed: reading.delayed },
    { depth: 0, pending: 0, delayed: 0 },
  );
  await worker.close();
});

test('a queue stream made before delayed subjects takes them on its next use; its delayed jobs run', async () => {
  const queue = createQueue(options);
  const name = uniqueName('delayold');
  const nc = await connect({ servers: url });
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    await nc.close();
  });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: `SP_${name}`,
    subjects: [`sp.q.${name}`],
    retention: RetentionPolicy.Workqueue,
  });
  const ran: unknown[] = [];
  const worker = queue.worker(name, (payload) => {
    ran.push(payload);
  });
  await worker.ready;
  await queue.publish(name, 'delayed', { delay: 200 });
  await waitFor(() => ran.length === 1, 'the delayed job to run');
  assert.deepEqual((await jsm.streams.info(`SP_${name}`)).config.subjects, [
    `sp.q.${name}`,
    `sp.q.${name}.d.*`,
  ]);
  await worker.close();
});

test('delayed subjects: due second rounded up, pattern found only beside its subject, split of the counts', () => {
  assert.equal(delayedSubject('sp.q.a', 10_001), 'sp.q.a.d.11');
  assert.equal(delayedSubject('sp.q.a', 10_000), 'sp.q.a.d.10');
  assert.equal(delayedPatternOf(['sp.q.a', 'sp.q.a.d.*']), 'sp.q.a.d.*');
  assert.equal(delayedPatternOf(['sp.q.a']), undefined);
  assert.equal(delayedPatternOf(['other.d.*']), undefined);
  // Due at 10 s: not due at 9.999 s, due at 10 s.
  assert.equal(notDueCount({ 'sp.q.a.d.10': 2, 'sp.q.a.d.11': 3 }, 9_999), 5);
  assert.equal(notDueCount({ 'sp.q.a.d.10': 2, 'sp.q.a.d.11': 3 }, 10_000), 3);
  assert.deepEqual(splitBacklog(5, 2, 3), { depth: 2, pending: 2, delayed: 3 });
  assert.deepEqual(splitBacklog(1, 4, 3), { depth: 0, pending: 2, delayed: 3 });
  assert.deepEqual(splitBacklog(0, 1, 3), { depth: 0, pending: 0, delayed: 3 });
});
