// close() hands back the jobs whose handlers outlive `closeTimeout`. A job whose handler has
// already returned and whose settle (ack, retry, dead letter) is on its way to a slow broker is no
// longer the worker's to hand back: before, it was handed back as well, so the broker got its ack
// and a new copy of it (a second run of a completed job; on RabbitMQ also a second ack of the same
// delivery tag, which closes the channel). And a job handed back before its handler started (the
// worker was still asking the dedup store about it) must not start it afterwards: it ran here and,
// handed back, elsewhere. The worker is driven by a backend written for the test, whose settles
// wait until the test lets them finish.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { DedupStore, Delivery, JobEnvelope, QueueBackend } from '../../src/queue/index.js';
import { queueMetrics, Worker, type WorkerOptions } from '../../src/queue/index.js';
import { waitFor } from './helpers.js';

/** gate is a promise the test opens. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

function start(
  handler: (payload: unknown) => unknown,
  options: WorkerOptions,
  settleGate: Promise<void>,
): { worker: Worker; settled: string[]; settling: Promise<void> } {
  const settled: string[] = [];
  const reached = gate();
  const settle = (what: string) => async () => {
    settled.push(what);
    reached.open();
    await settleGate;
  };
  const envelope: JobEnvelope = { id: 'job-1', queue: 'q', payload: 'job', attempt: 1, publishedAt: 0 };
  const delivery: Delivery = {
    envelope,
    attempt: 1,
    stalls: 0,
    ack: settle('ack'),
    retry: settle('retry'),
    deadLetter: settle('dead-letter'),
    release: async () => void settled.push('release'),
  };
  const backend = {
    name: 'redis',
    async consume(_queue, consumeOptions) {
      queueMicrotask(() => consumeOptions.deliver(delivery));
      return { wake() {}, async stop() {} };
    },
  } as Partial<QueueBackend> as QueueBackend;
  const worker = new Worker('q', handler, options, {
    backend,
    metrics: queueMetrics(new Registry()),
    log: { info() {}, warn() {}, error() {} },
    random: Math.random,
  });
  return { worker, settled, settling: reached.wait };
}

for (const outcome of ['ack', 'retry'] as const) {
  test(`close() does not hand back a job whose ${outcome} is on its way to the broker`, async () => {
    const broker = gate();
    const { worker, settled, settling } = start(
      () => {
        if (outcome === 'retry') throw new Error('fails');
      },
      { closeTimeout: 0, backoff: { initial: 10, max: 10 } },
      broker.wait,
    );
    await settling;
    await worker.close();
    assert.deepEqual(settled, [outcome], `settled once, by the ${outcome}, not handed back as well`);
    broker.open();
  });
}

test('a job handed back at close() before its handler started is not run afterwards', async () => {
  const asked = gate();
  const answer = gate();
  const dedup: DedupStore = {
    async isDone() {
      asked.open();
      await answer.wait;
      return false;
    },
    async markDone() {},
  };
  const ran: unknown[] = [];
  const { worker, settled } = start(
    (payload) => void ran.push(payload),
    { closeTimeout: 0, dedup },
    Promise.resolve(),
  );
  await asked.wait;
  await worker.close();
  assert.deepEqual(settled, ['release'], 'handed back while the dedup store was asked');
  answer.open();
  await waitFor(() => worker.inFlight === 0, 'the worker to be done with the job');
  assert.deepEqual(ran, [], 'the handler did not start after the hand-back');
  assert.deepEqual(settled, ['release'], 'nothing settled after the hand-back');
});
