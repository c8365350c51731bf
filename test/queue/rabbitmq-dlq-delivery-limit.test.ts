// dlq.list() read the dead-letter queue by taking each letter (basic.get) and giving them all back
// (nack with requeue); dlq.retry(refs) gave back the letters it skipped. A quorum queue counts every
// such return as a delivery attempt, and RabbitMQ 4.0 gives every quorum queue a delivery limit
// (20 by default): past it a letter is dead-lettered, and the DLQ has no DLX, so it was dropped.
// About 20 list() calls silently emptied the DLQ. Reproduced on 3.x with a `delivery-limit` policy
// on this test's DLQ alone (2 here, so the third listing lost every letter).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createQueue } from '../../src/queue/index.js';
import { backendOptions, deadLetteringWorker, uniqueName, waitFor } from './helpers.js';
import { deletePolicy, onBroker, setPolicy } from './rabbitmq-admin.js';

const options = backendOptions('rabbitmq');

test('listing and skipping dead letters spends none of their delivery attempts (RabbitMQ, delivery-limit 2)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('dlq-limit');
  const dlq = `sp.${name}.dlq`;
  const policy = `${name}-delivery-limit`;
  after(async () => {
    await deletePolicy(policy).catch(() => {});
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const { worker, dead } = await deadLetteringWorker(queue, name);
  for (const id of ['a', 'b', 'c']) {
    await queue.publish(name, id, { id });
    await waitFor(() => dead.includes(id), `job ${id} to be dead-lettered`);
  }
  await worker.close();
  // RabbitMQ 4.0's default, made low: only this test's dead-letter queue matches.
  await setPolicy(policy, dlq, { 'delivery-limit': 2 });
  const ids = async (limit?: number) => (await queue.dlq(name).list(limit)).map((l) => l.job.id);
  for (let i = 1; i <= 15; i++)
    assert.deepEqual(
      await ids(i % 2 === 0 ? 1 : undefined),
      i % 2 === 0 ? ['a'] : ['a', 'b', 'c'],
      `listing ${i}`,
    );
  // A retry naming no letter there skips every letter.
  for (let i = 1; i <= 10; i++) assert.equal(await queue.dlq(name).retry(['not-there']), 0, `retry ${i}`);
  assert.deepEqual(await ids(), ['a', 'b', 'c'], 'after 25 listings and skips');
  const b = (await queue.dlq(name).list()).find((l) => l.job.id === 'b')!;
  assert.equal(await queue.dlq(name).retry([b.ref]), 1, 'retry of letter b');
  assert.deepEqual(await ids(), ['a', 'c'], 'after b was re-queued');
  assert.equal((await queue.depth(name)).depth, 1, 'job b is back on its work queue');
  const counts = await onBroker(async (ch) => {
    const out: number[] = [];
    for (;;) {
      const msg = await ch.get(dlq, { noAck: false });
      if (!msg) break;
      out.push(Number(msg.properties.headers?.['x-delivery-count'] ?? 0));
    }
    ch.nackAll(true);
    return out;
  });
  assert.deepEqual(counts, [0, 0], 'no delivery attempt of a letter left was spent');
});

test('a letter left twice by a crash between its copy and its ack is listed once and kept once (RabbitMQ)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('dlq-twice');
  const dlq = `sp.${name}.dlq`;
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const { worker, dead } = await deadLetteringWorker(queue, name);
  for (const id of ['a', 'b']) {
    await queue.publish(name, id, { id });
    await waitFor(() => dead.includes(id), `job ${id} to be dead-lettered`);
  }
  await worker.close();
  // What a pass that died after its copy of letter a was confirmed, before its ack, leaves.
  await onBroker(async (ch) => {
    const msg = await ch.get(dlq, { noAck: false });
    assert.ok(msg, 'letter a is there');
    ch.sendToQueue(dlq, msg.content, msg.properties);
    ch.nack(msg, false, true);
  });
  assert.equal((await onBroker((ch) => ch.checkQueue(dlq))).messageCount, 3, 'letter a is there twice');
  const listed = await queue.dlq(name).list();
  assert.deepEqual(listed.map((l) => l.job.id).sort(), ['a', 'b'], 'each letter is listed once');
  assert.equal((await onBroker((ch) => ch.checkQueue(dlq))).messageCount, 2, 'the extra copy is gone');
  assert.equal(await queue.dlq(name).retry(), 2, 'retry re-queues each job once');
  assert.equal((await queue.depth(name)).depth, 2);
});

test('letters out of place in the queue (a pass cut short) are listed in the order they were dead-lettered (RabbitMQ)', async () => {
  const queue = createQueue({ ...options, backend: 'rabbitmq' });
  const name = uniqueName('dlq-order');
  const dlq = `sp.${name}.dlq`;
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const { worker, dead } = await deadLetteringWorker(queue, name);
  for (const id of ['a', 'b', 'c']) {
    await queue.publish(name, id, { id });
    await waitFor(() => dead.includes(id), `job ${id} to be dead-lettered`);
  }
  await worker.close();
  // What a pass that moved letter a round and then died leaves: a behind b and c.
  await onBroker(async (ch) => {
    const msg = await ch.get(dlq, { noAck: false });
    assert.ok(msg, 'letter a is there');
    ch.sendToQueue(dlq, msg.content, msg.properties);
    ch.ack(msg);
  });
  const ids = async (limit?: number) => (await queue.dlq(name).list(limit)).map((l) => l.job.id);
  assert.deepEqual(await ids(), ['a', 'b', 'c']);
  assert.deepEqual(await ids(1), ['a']);
  assert.deepEqual(await ids(), ['a', 'b', 'c'], 'and again');
});

test('a listed letter keeps what was left of its retention age, not a new one (RabbitMQ)', async () => {
  const age = 600_000;
  const queue = createQueue({ ...options, backend: 'rabbitmq', deadLetterRetention: { age } });
  const name = uniqueName('dlq-age');
  const dlq = `sp.${name}.dlq`;
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
  });
  const dead: { id: string }[] = [];
  const worker = queue.worker(
    name,
    () => {
      throw new Error('always fails');
    },
    { retries: 0 },
  );
  worker.on('dead-lettered', (event: { id: string }) => dead.push(event));
  await worker.ready;
  await queue.publish(name, 'a', { id: 'a' });
  await waitFor(() => dead.length === 1, 'job a to be dead-lettered');
  await worker.close();
  const beforeList = Date.now();
  const [letter] = await queue.dlq(name).list();
  const listedAt = Date.now();
  assert.ok(letter, 'the letter is listed');
  // The copy the listing left carries the time its letter had left as its own expiration.
  const expiration = await onBroker(async (ch) => {
    const msg = await ch.get(dlq, { noAck: false });
    assert.ok(msg, 'the letter is there');
    ch.nack(msg, false, true);
    return Number(msg.properties.expiration);
  });
  const left = (at: number) => letter.failedAt + age - at;
  assert.ok(
    expiration >= left(listedAt) && expiration <= left(beforeList),
    `the copy expires in ${expiration} ms, not in what was left of ${age} ms from ${letter.failedAt} (${left(listedAt)}..${left(beforeList)})`,
  );
});
