// The worker emits `failed` before it retries or dead-letters the job. A `failed` listener that
// threw (a bug in the caller's logging or metrics) threw out of the worker's processing before
// that settle: the job was never retried nor dead-lettered, while the backend kept its lease alive
// (in flight for as long as the worker lived, holding a slot). Now the job is settled all the same
// and the listener's error reported. The worker is driven by a backend written for the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { Delivery, JobEnvelope, QueueBackend, QueueError } from '../../src/queue/index.js';
import { queueMetrics, UnrecoverableError, Worker } from '../../src/queue/index.js';

for (const failure of ['retry', 'dead-letter'] as const) {
  test(`a throwing 'failed' listener does not keep the job from its ${failure}`, async () => {
    const settled: string[] = [];
    const envelope: JobEnvelope = { id: 'job-1', queue: 'q', payload: 'job', attempt: 1, publishedAt: 0 };
    const delivery: Delivery = {
      envelope,
      attempt: 1,
      stalls: 0,
      ack: async () => void settled.push('ack'),
      retry: async () => void settled.push('retry'),
      deadLetter: async () => void settled.push('dead-letter'),
      release: async () => void settled.push('release'),
    };
    const backend = {
      name: 'redis',
      async consume(_queue, options) {
        queueMicrotask(() => options.deliver(delivery));
        return { wake() {}, async stop() {} };
      },
    } as Partial<QueueBackend> as QueueBackend;
    const worker = new Worker(
      'q',
      () => {
        throw failure === 'retry' ? new Error('fails') : new UnrecoverableError('fails');
      },
      { backoff: { initial: 10, max: 10 } },
      {
        backend,
        metrics: queueMetrics(new Registry()),
        log: { info() {}, warn() {}, error() {} },
        random: Math.random,
      },
    );
    worker.on('failed', () => {
      throw new Error('listener bug');
    });
    const reported = new Promise<QueueError>((resolve) => worker.once('error', resolve));
    const error = await reported;
    assert.deepEqual(settled, [failure], `the job is settled by its ${failure}; reported: ${error.message}`);
    assert.match(error.message, /'failed' listener threw: listener bug/);
    await worker.close();
  });
}
