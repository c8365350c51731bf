// A Redis dead-letter retry moves the letters in batches of 500 (one XRANGE, one script each).
// Before, a retry whose Redis stopped answering after the first batch stayed pending for as long as
// it did (ioredis holds commands across reconnects, with no bound), and a failure after the first
// batch went up as Redis's bare error: the caller could not tell how many letters had moved. Now
// each call waits at most publishTimeout, and the error says how many moved, as the RabbitMQ and
// NATS retries do.
//
// The stall is made, not waited for: a proxy in front of the shared Redis holds the connection on
// which the retry sends its second XRANGE (the one starting after the 500th letter).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, type QueueError, redisKeys } from '../../src/queue/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { uniqueName } from './helpers.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

test('a Redis dead-letter retry that stalls after its first batch fails within publishTimeout, saying how many letters moved', async () => {
  const prefix = uniqueName('retrycount');
  const name = uniqueName('q');
  const keys = redisKeys(prefix, name);
  const redis = new Redis(url);
  const { port } = new URL(url);
  const proxy = await pausableProxy(Number(port || 6379));
  const queue = createQueue({
    backend: 'redis',
    prefix,
    redis: { host: '127.0.0.1', port: proxy.port },
    publishTimeout: 1500,
  });
  queue.on('error', () => {});
  after(async () => {
    proxy.dropHeld();
    await queue.close();
    await proxy.close();
    await redis.del(...Object.values(keys));
    redis.disconnect();
  });

  // 600 letters with ids of our own, so the second batch's XRANGE start is known: "(1000-499".
  const write = redis.pipeline();
  for (let i = 0; i < 600; i++) {
    const job = { id: `job-${i}`, queue: name, payload: { i }, attempt: 4, publishedAt: Date.now() };
    write.xadd(
      keys.dlq,
      `1000-${i}`,
      'job',
      JSON.stringify(job),
      'error',
      'boom',
      'reason',
      'Failed',
      'failedAt',
      Date.now(),
    );
  }
  await write.exec();
  proxy.holdOn('(1000-499');

  const retry = queue.dlq(name).retry();
  let guard: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    retry.then(
      (moved) => ({ kind: 'resolved' as const, moved }),
      (error: QueueError) => ({ kind: 'rejected' as const, error }),
    ),
    new Promise<{ kind: 'pending' }>((resolve) => {
      guard = setTimeout(() => resolve({ kind: 'pending' }), 12_000);
    }),
  ]);
  clearTimeout(guard);
  assert.ok(proxy.holding(), 'the second XRANGE was held by the proxy');
  assert.equal(outcome.kind, 'rejected', `the retry fails once Redis stops answering (was ${outcome.kind})`);
  const { error } = outcome as { error: QueueError };
  assert.equal(error.code, 'QUEUE_CONNECTION', `a stall fails QUEUE_CONNECTION: ${error.message}`);
  assert.match(error.message, /; 500 moved$/, `the error says how many letters moved: ${error.message}`);
  assert.match(error.message, new RegExp(`queue "${name}"`), `the error names the queue: ${error.message}`);
  assert.equal(await redis.xlen(keys.stream), 500, 'the first batch is on the work stream');
  assert.equal(await redis.xlen(keys.dlq), 100, 'the letters not reached are still dead letters');
});
