// A delivery the broker has already taken back (RabbitMQ: its channel closed before the handler
// started) is not run: running it would be a second run of a job already on its way to another
// delivery. The chaos test found such runs after a broker restart (a handler that started 5 ms
// after its connection was lost); here the worker is driven by a backend written for the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { Delivery, JobEnvelope, QueueBackend } from '../../src/queue/index.js';
import { queueMetrics, Worker } from '../../src/queue/index.js';

function delivery(id: string, abandoned: boolean, settled: string[]): Delivery {
  const envelope: JobEnvelope = { id, queue: 'q', payload: id, attempt: 1, publishedAt: 0 };
  return {
    envelope,
    attempt: 1,
    stalls: 0,
    abandoned: () => abandoned,
    ack: async () => void settled.push(`ack ${id}`),
    retry: async () => void settled.push(`retry ${id}`),
    deadLetter: async () => void settled.push(`dead-letter ${id}`),
    release: async () => void settled.push(`release ${id}`),
  };
}

test('a delivery its broker already took back is neither run nor settled; the next one is run', async () => {
  const settled: string[] = [];
  const backend = {
    name: 'rabbitmq',
    async consume(_queue, options) {
      queueMicrotask(() => {
        options.deliver(delivery('gone', true, settled));
        options.deliver(delivery('live', false, settled));
      });
      return { wake() {}, async stop() {} };
    },
  } as Partial<QueueBackend> as QueueBackend;
  const ran: unknown[] = [];
  const abandoned: string[] = [];
  const worker = new Worker(
    'q',
    async (payload) => void ran.push(payload),
    {},
    {
      backend,
      metrics: queueMetrics(new Registry()),
      log: { info() {}, warn() {}, error() {} },
      random: Math.random,
    },
  );
  worker.on('abandoned', (e: { id: string }) => abandoned.push(e.id));
  const completed = new Promise((resolve) => worker.once('completed', resolve));
  await worker.ready;
  await completed;
  assert.deepEqual(ran, ['live']);
  assert.deepEqual(abandoned, ['gone']);
  assert.deepEqual(settled, ['ack live'], 'the broker settles the abandoned one: nothing is sent for it');
});
