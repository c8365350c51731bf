import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { createQueue, natsMaxDeliver } from '../../src/queue/index.js';
import { runConformance } from './conformance.js';
import { uniqueName } from './helpers.js';

runConformance('nats');

test('nats: a worker with more retries or stalls raises MaxDeliver of a consumer made lower', async (t) => {
  const q = uniqueName('maxdeliver');
  const queue = createQueue({
    backend: 'nats',
    servers: process.env.NATS_URL ?? '127.0.0.1:4222',
    maxDeliverMargin: 0,
  });
  const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
  t.after(async () => {
    await queue.destroy(q).catch(() => {});
    await queue.close();
    await nc.close();
  });
  const jsm = await jetstreamManager(nc);
  const maxDeliver = async () => (await jsm.consumers.info(`SP_${q}`, 'workers')).config.max_deliver;
  const first = queue.worker(q, () => {}, { retries: 0, maxStalls: 0 });
  await first.ready;
  assert.equal(await maxDeliver(), natsMaxDeliver(1, 0, 0));
  // Else JetStream would stop delivering a crash-looping job before this worker dead-letters it.
  const second = queue.worker(q, () => {}, { retries: 3, maxStalls: 2 });
  await second.ready;
  assert.equal(await maxDeliver(), natsMaxDeliver(4, 2, 0));
  await Promise.all([first.close(), second.close()]);
});

test('nats: a worker with another stallTimeout sets AckWait of the existing consumer', async (t) => {
  const q = uniqueName('ackwait');
  const queue = createQueue({ backend: 'nats', servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
  const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
  t.after(async () => {
    await queue.destroy(q).catch(() => {});
    await queue.close();
    await nc.close();
  });
  const jsm = await jetstreamManager(nc);
  const ackWait = async () => (await jsm.consumers.info(`SP_${q}`, 'workers')).config.ack_wait;
  const first = queue.worker(q, () => {}, { stallTimeout: 30_000 });
  await first.ready;
  assert.equal(await ackWait(), nanos(30_000));
  // Else a deploy that changes stallTimeout would keep the first worker's AckWait for good.
  const second = queue.worker(q, () => {}, { stallTimeout: 5_000 });
  await second.ready;
  assert.equal(await ackWait(), nanos(5_000));
  await Promise.all([first.close(), second.close()]);
});
