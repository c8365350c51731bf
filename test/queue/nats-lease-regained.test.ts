// On NATS a job whose worker goes silent for AckWait (stallTimeout) is delivered to another worker.
// The worker cut off publishes a retry or hand-back only while it knows the server still holds the
// job for it (nats-lease.test.ts). Two holes were left:
// - the dead letter was not guarded at all: a worker that failed the job's last attempt once its
//   link was back wrote a dead letter for a job that had completed elsewhere (a dlq retry of it
//   then runs it again);
// - "knows" was "the last heartbeat the server confirmed was recent": once the link was back, the
//   next heartbeat round was confirmed and the job counted as held again, though the server had
//   given it away while the link was down. A retry then ran the job a third time.
// Here the cut-off worker fails its job only after its link is back and a heartbeat round sent
// since has been confirmed (two round trips over the same connection, a heartbeat interval apart).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue, type QueueError } from '../../src/queue/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { sleep, uniqueName } from './helpers.js';

async function cutOffCase(tag: string, retries: number) {
  const proxy = await pausableProxy(4222);
  const cutOff = createQueue({ backend: 'nats', servers: `127.0.0.1:${proxy.port}` });
  const other = createQueue({ backend: 'nats', servers: '127.0.0.1:4222' });
  const name = uniqueName(tag);
  after(async () => {
    await other.destroy(name).catch(() => {});
    await cutOff.close();
    await other.close();
    await proxy.close();
  });
  cutOff.on('error', () => {});
  const stallTimeout = 2000;
  // maxStalls 3: the other worker runs the job even if the server's first redelivery went to the
  // cut-off worker's pending pull (delivery 3).
  const options = {
    stallTimeout,
    retries,
    maxStalls: 3,
    backoff: { initial: 200, factor: 1, max: 200, jitter: 0 },
  };
  const runs: string[] = [];
  let fail!: () => void;
  const failing = new Promise<void>((resolve) => {
    fail = resolve;
  });
  // A marker job, run by either worker (see the second case).
  let marker!: () => void;
  const markerRan = new Promise<void>((resolve) => {
    marker = resolve;
  });
  let started!: () => void;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const a = cutOff.worker(
    name,
    async (payload, job) => {
      if (payload === 'marker') return marker();
      runs.push(`A:${job.attempt}`);
      // Only the first run fails. A later one here is a stale delivery (the server's redelivery
      // that went to this worker's pull on the paused link, received once it is back), which this
      // worker cannot tell from a fresh one: it completes, so only the first run's settle is judged.
      if (runs.filter((run) => run.startsWith('A:')).length > 1) return;
      started();
      await failing;
      throw new Error('fails after its link came back');
    },
    options,
  );
  await a.ready;
  await other.publish(name, 'job', { id: 'job-1' });
  await running;
  proxy.pause();
  let completed!: () => void;
  const redelivered = new Promise<void>((resolve) => {
    completed = resolve;
  });
  const b = other.worker(
    name,
    (payload, job) => {
      if (payload === 'marker') return marker();
      runs.push(`B:${job.attempt}`);
      completed();
    },
    options,
  );
  await redelivered;
  proxy.resume();
  // The link is back: a round trip, a heartbeat interval (stallTimeout / 3), a round trip again,
  // so a heartbeat round sent since the link came back has been confirmed.
  await cutOff.depth(name);
  await sleep(stallTimeout / 3 + 100);
  await cutOff.depth(name);
  const settledA = new Promise<string>((resolve) => {
    a.once('retrying', () => resolve('retrying'));
    a.once('dead-lettered', () => resolve('dead-lettered'));
    // Only the settle's own refusal: a pull that failed while the link was down reports too.
    a.on('error', (e: QueueError) => {
      if (e.code === 'QUEUE_ACK_FAILED') resolve(`error ${e.code}`);
    });
  });
  fail();
  const outcome = await settledA;
  return { other, name, runs, outcome, markerRan, close: () => Promise.all([a.close(), b.close()]) };
}

test('a worker cut off past AckWait writes no dead letter for a job another worker completed (NATS)', async () => {
  const { other, name, runs, outcome, close } = await cutOffCase('lease-dlq', 0);
  assert.equal(outcome, 'error QUEUE_ACK_FAILED', `the cut-off worker reports, not dead-letters: ${runs}`);
  const letters = await other.dlq(name).list();
  assert.deepEqual(
    letters.map((l) => `${l.job.id} ${l.reason}`),
    [],
    `no dead letter for job-1, which completed on the other worker: ${runs}`,
  );
  await close();
});

test('a worker cut off past AckWait does not retry once its heartbeats are confirmed again (NATS)', async () => {
  const { other, name, runs, outcome, markerRan, close } = await cutOffCase('lease-back', 3);
  // Published after A's retry would have been, due well after it (a delayed job is held to its due
  // second, rounded up; 200 ms, as the retry's, passed it once): once it has run, a retry copy has.
  await other.publish(name, 'marker', { delay: 1500 });
  await markerRan;
  // As in nats-lease.test.ts: B's attempt is 2 or 3, and a stale delivery of attempt 1 held in the
  // paused link may reach A; a retry copy carries attempt 2 and runs on B.
  const counted = runs
    .map((run) => run.replace(/^B:[23]$/, 'B:2|3'))
    .filter((run, i) => i === 0 || run !== 'A:1');
  assert.deepEqual(
    counted,
    ['A:1', 'B:2|3'],
    `the job ran here and once elsewhere, and no retry copy ran: ${runs} (A: ${outcome})`,
  );
  await close();
});
