// A pass over a RabbitMQ dead-letter queue (browse.ts: list(), retry()) takes each letter, publishes
// a copy to the tail and acks the original. Passes are one at a time per process only: another
// process (a CLI `dlq retry` beside an app listing) runs its own pass at the same time, taking
// letters this one copied and copying them on. Two ways that lost a letter:
// - the pass met a letter again, through the other pass's copy of its own copy, and took it for a
//   duplicate left by a crash: dropped, while the other pass had acked the message it came from;
// - the pass met its own copy (the other took letters, so this one's count went round) and gave it
//   back with a nack, which spends a delivery attempt: under a delivery limit of 0 the broker
//   dropped it.
// Each case is made step by step: the other process's moves are done by hand, inside this pass's
// visit of a letter, with the same copy a pass makes (copyOf). The queue is this test's own quorum
// queue (a DLQ is one unless RABBITMQ_QUEUE_TYPE=classic; a classic queue counts no deliveries).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type Channel, type ConfirmChannel, connect, type GetMessage } from 'amqplib';
import { copyOf, type PassOptions, passDeadLetters } from '../../src/queue/rabbitmq/browse.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

const url = (backendOptions('rabbitmq') as { url: string }).url;
const passOptions: PassOptions = { idHeader: 'x-sp-dead-id', writtenAtHeader: 'x-sp-failed-at' };

async function setUp(tag: string, args: Record<string, unknown> = {}) {
  const name = uniqueName(tag);
  const model = await connect(url);
  const other = await connect(url);
  const ch = await model.createConfirmChannel();
  const otherCh = await other.createConfirmChannel();
  after(async () => {
    await ch.deleteQueue(name).catch(() => {});
    await other.close().catch(() => {});
    await model.close().catch(() => {});
  });
  await ch.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'quorum', ...args } });
  return { name, model, ch, otherCh };
}

async function writeLetters(ch: ConfirmChannel, queue: string, ids: string[]): Promise<void> {
  for (const [i, id] of ids.entries())
    ch.sendToQueue(queue, Buffer.from(JSON.stringify({ id })), {
      persistent: true,
      headers: { 'x-sp-dead-id': id, 'x-sp-failed-at': 1_000 + i },
    });
  await ch.waitForConfirms();
}

/** takeNext gets the next message of `queue` on the other process's channel, waiting for one to be there. */
async function takeNext(ch: Channel, queue: string, what: string): Promise<GetMessage> {
  let msg: GetMessage | false = false;
  await waitFor(async () => {
    msg = await ch.get(queue, { noAck: false });
    return msg !== false;
  }, what);
  return msg as unknown as GetMessage;
}

/** drain takes every message left, returning each letter's id and delivery count. */
async function drain(ch: Channel, queue: string): Promise<{ id: string; count: unknown }[]> {
  const out: { id: string; count: unknown }[] = [];
  for (;;) {
    const msg = await ch.get(queue, { noAck: true });
    if (!msg) return out;
    out.push({
      id: String(msg.properties.headers?.['x-sp-dead-id']),
      count: msg.properties.headers?.['x-delivery-count'] ?? 0,
    });
  }
}

test('a letter met again through another process pass is kept, not dropped as a duplicate (RabbitMQ)', async () => {
  const { name, model, ch, otherCh } = await setUp('pass-beside');
  await writeLetters(ch, name, ['a', 'b', 'c']);
  const visited: string[] = [];
  await passDeadLetters(
    model,
    name,
    async (msg) => {
      const id = String(msg.properties.headers?.['x-sp-dead-id']);
      visited.push(id);
      if (id === 'b') {
        // The other process: its retry takes letter c; its pass then meets this pass's copy of a
        // and copies it on, acking the copy it took once its own is confirmed.
        const c = await takeNext(otherCh, name, 'letter c');
        assert.equal(c.properties.headers?.['x-sp-dead-id'], 'c', 'the other process takes letter c first');
        otherCh.ack(c);
        const aCopy = await takeNext(otherCh, name, "this pass's copy of letter a");
        assert.equal(aCopy.properties.headers?.['x-sp-dead-id'], 'a', 'then the copy of letter a');
        otherCh.publish('', name, aCopy.content, copyOf(aCopy.properties, 'the-other-pass', passOptions)!);
        await otherCh.waitForConfirms();
        otherCh.ack(aCopy);
      }
      return id === 'c' ? 'taken' : 'keep';
    },
    passOptions,
  );
  assert.deepEqual(visited, ['a', 'b'], 'this pass visits each letter it met once');
  const left = (await drain(ch, name)).map((l) => l.id).sort();
  assert.deepEqual(left, ['a', 'b'], 'letters a and b are still dead letters, once each');
});

test('a pass that meets its own copy spends none of its delivery attempts (RabbitMQ, x-delivery-limit 0)', async () => {
  const { name, model, ch, otherCh } = await setUp('pass-own', { 'x-delivery-limit': 0 });
  await writeLetters(ch, name, ['a', 'b']);
  const visited: string[] = [];
  await passDeadLetters(
    model,
    name,
    async (msg) => {
      const id = String(msg.properties.headers?.['x-sp-dead-id']);
      visited.push(id);
      if (id === 'a') {
        // The other process's retry takes letter b: this pass's second get meets its own copy of a.
        const b = await takeNext(otherCh, name, 'letter b');
        assert.equal(b.properties.headers?.['x-sp-dead-id'], 'b', 'the other process takes letter b');
        otherCh.ack(b);
      }
      return 'keep';
    },
    passOptions,
  );
  assert.deepEqual(visited, ['a'], 'the pass visits letter a once');
  assert.deepEqual(
    await drain(ch, name),
    [{ id: 'a', count: 0 }],
    'letter a is kept, no delivery attempt spent',
  );
});
