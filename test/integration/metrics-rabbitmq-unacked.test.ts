// `rabbitmq: { mode: length, management_url }` against the real broker (127.0.0.1:5672,
// guest/guest) and its management API (127.0.0.1:15672): the depth counts the messages workers
// hold unacknowledged, as KEDA's QueueLength over HTTP does and as the redis (pending) and nats
// (num_ack_pending) sources already did. Over AMQP only the ready ones are known: three workers
// busy on three jobs with two waiting read 2, and a queue drained into the workers' prefetch read 0
// (scale in, to zero with `activation`, under full work). The broker samples queue statistics every
// 5 s, so the test waits for the API itself to show the five, by polling with a deadline.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { MetricSourceError, RabbitMqSource } from '../../src/metrics/index.js';

const AMQP = 'amqp://guest:guest@127.0.0.1:5672';
const API = 'http://127.0.0.1:15672';
const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

/** counts are the queue's message counts as the management API last sampled them. */
async function counts(queue: string): Promise<{ messages?: number; unacked?: number }> {
  const res = await fetch(`${API}/api/queues/%2F/${encodeURIComponent(queue)}`, {
    headers: { authorization: AUTH },
  });
  assert.equal(res.status, 200, `management API answered ${res.status}`);
  const body = (await res.json()) as { messages?: number; messages_unacknowledged?: number };
  return { messages: body.messages, unacked: body.messages_unacknowledged };
}

/** until polls `probe` every 200 ms until it holds, or fails after `ms`. */
async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe('RabbitMQ queue depth with unacknowledged messages (management API)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  it('counts ready + unacknowledged with management_url; a missing queue fails; AMQP alone reads ready', async () => {
    const queue = `scaleplane-unacked-${randomUUID().slice(0, 8)}`;
    const producer = await amqp.connect(AMQP);
    cleanup.push(() => producer.close());
    const ch = await producer.createConfirmChannel();
    await ch.assertQueue(queue, { autoDelete: false });
    cleanup.push(() => ch.deleteQueue(queue));

    const viaApi = new RabbitMqSource({ url: AMQP, queue, managementUrl: API });
    cleanup.push(() => viaApi.close());
    const viaAmqp = new RabbitMqSource({ url: AMQP, queue });
    cleanup.push(() => viaAmqp.close());

    for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.waitForConfirms();
    // A worker holding three jobs it has not acknowledged (prefetch 3), two left waiting.
    const worker = await amqp.connect(AMQP);
    cleanup.push(() => worker.close());
    const wch = await worker.createChannel();
    await wch.prefetch(3);
    let held = 0;
    await new Promise<void>((resolve) => {
      void wch.consume(queue, () => {
        if (++held === 3) resolve();
      });
    });
    await until('the management API to sample 5 messages, 3 of them unacknowledged', 20_000, async () => {
      const c = await counts(queue);
      return c.messages === 5 && c.unacked === 3;
    });

    assert.deepEqual(await viaApi.read(), [5], 'ready 2 + unacknowledged 3');
    assert.deepEqual(await viaAmqp.read(), [2], 'over AMQP only the ready ones are known');

    const missing = new RabbitMqSource({ url: AMQP, queue: `${queue}-none`, managementUrl: API });
    cleanup.push(() => missing.close());
    await assert.rejects(missing.read(), (err: unknown) => {
      assert.ok(err instanceof MetricSourceError, `expected a MetricSourceError, got ${String(err)}`);
      assert.equal(err.code, 'SOURCE_FAILED');
      assert.match(err.message, /no such queue or vhost .*404/);
      return true;
    });
  });
});
