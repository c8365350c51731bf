// A delayed job or retry waits in a TTL queue, and the broker moves it into its work queue when it
// falls due, by dead-lettering. Out of a classic queue that move is at-most-once: a work queue that
// refuses it (at a max-length with reject-publish, a quorum queue without its majority) and RabbitMQ
// drops the job, with no publisher to report it to. On RabbitMQ 3.10 to 3.13 delay queues are
// quorum queues with at-least-once dead-lettering: the broker keeps the due job and offers it again
// every dead_letter_worker_publisher_confirm_timeout (3 min by default; 1 s on the private broker
// here, so the test takes seconds) until the work queue takes it.
//
// A quorum queue's x-expires lease is not renewed by declaring it again (rabbitmq-server#5894), so
// the delay queues' lease is renewed by a consumer with no credit (renewQuorumLease); the second
// case shows it holds a queue, with its job, past its lease.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect } from 'amqplib';
import { createQueue, delayQueueKind, rabbitNames } from '../../src/queue/index.js';
import { renewQuorumLease } from '../../src/queue/rabbitmq/lease.js';
import { OwnRabbit } from './fixtures/own-rabbit.js';
import { backendOptions, sleep, uniqueName, waitFor } from './helpers.js';

const DELAY = 300;

test('a delayed job that falls due while its work queue refuses it runs once the queue takes it again (RabbitMQ)', async () => {
  const rabbit = await OwnRabbit.start({ rabbit: { dead_letter_worker_publisher_confirm_timeout: 1000 } });
  // A classic work queue: a quorum one (3.10) takes an at-most-once move past its limit all the same.
  const queue = createQueue({ backend: 'rabbitmq', url: rabbit.url, queueType: 'classic' });
  queue.on('error', () => {});
  after(async () => {
    await queue.close();
    await rabbit.close();
  });
  const name = uniqueName('delay-refused');
  const names = rabbitNames('sp', name);
  const connection = await connect(rabbit.url);
  after(() => connection.close().catch(() => {}));
  const operator = await connection.createChannel();

  // The work queue holds one job and refuses any more.
  await queue.publish(name, 'filler');
  const policy = JSON.stringify({ 'max-length': 1, overflow: 'reject-publish' });
  const pattern = `^${names.queue.replaceAll('.', '\\.')}$`;
  await rabbit.ctl('set_policy', '--apply-to', 'queues', 'full', pattern, policy);
  await waitFor(
    async () => (await rabbit.ctl('list_queues', 'name', 'policy')).includes(`${names.queue}\tfull`),
    'the max-length policy to apply to the work queue',
  );
  await queue.publish(name, 'delayed', { id: 'delayed', delay: DELAY });
  const waiting = (await rabbit.ctl('list_queues', 'name'))
    .split('\n')
    .find((line) => line.startsWith(`${names.queue}.delayed.`));
  assert.ok(waiting, 'no delay queue declared');
  // Due: offered to the work queue, which refused it. A quorum delay queue keeps it (not ready).
  await waitFor(
    async () => (await operator.checkQueue(waiting)).messageCount === 0,
    'the delayed job to fall due',
  );
  assert.equal((await queue.depth(name)).depth, 1, 'the work queue took the due job despite its limit');

  // A worker drains the work queue, under its limit again: the broker offers the due job once more.
  const ran: unknown[] = [];
  const worker = queue.worker(name, (payload) => {
    ran.push(payload);
  });
  await waitFor(() => ran.includes('delayed'), 'the delayed job to run', 15_000).catch(() => {});
  await worker.close();
  // At-least-once: a move whose confirm took longer than the broker's 1 s retry is offered twice.
  assert.deepEqual([...new Set(ran)].sort(), ['delayed', 'filler'], 'the delayed job was lost');
});

test('a quorum queue whose lease is renewed outlives it with its job (RabbitMQ)', async () => {
  const connection = await connect((backendOptions('rabbitmq') as { url: string }).url);
  const name = `sp-q24-${uniqueName('lease')}`;
  const ch = await connection.createConfirmChannel();
  after(async () => {
    await ch.deleteQueue(name).catch(() => {});
    await connection.close();
  });
  const server = connection.connection.serverProperties;
  if (delayQueueKind(server.product, server.version) !== 'quorum') return;
  const lease = 3000;
  await ch.assertQueue(name, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum', 'x-expires': lease },
  });
  ch.sendToQueue(name, Buffer.from('job'), { persistent: true });
  await ch.waitForConfirms();
  // Three leases long, renewed as a producer renews its delay queue, more often here.
  const end = performance.now() + 3 * lease;
  while (performance.now() < end) {
    await renewQuorumLease(ch, name);
    await sleep(lease / 10);
  }
  // An expired queue is gone: the check closes its own channel (404), not the one cleanup uses.
  const check = await connection.createChannel();
  check.on('error', () => {});
  const left = await check.checkQueue(name).then(
    (reply) => reply.messageCount,
    () => 0,
  );
  assert.equal(left, 1, 'the queue expired with its job');
});
