// SETTLE writes a retry or dead letter only for an entry its consumer still holds, and says 0 when
// it does not, which the worker reports as the entry claimed by another worker (nothing emitted,
// nothing counted). ioredis re-sends a command whose answer was lost with its connection: a SETTLE
// that had already written the retry then ran again and found the entry no longer pending at all.
// That must not read as claimed elsewhere (a false error, and a retry written but not counted):
// SETTLE says -1 for an entry nobody holds, 0 only for one another consumer holds.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisKeys } from '../../src/queue/index.js';
import { SCHEDULE, Script, SETTLE } from '../../src/queue/redis/scripts.js';
import { uniqueName } from './helpers.js';

test('SETTLE run again after its retry was written answers -1 (not pending), not 0 (held elsewhere)', async () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const keys = redisKeys(uniqueName('settle-resent'), 'q');
  after(async () => {
    await redis.del(keys.stream, keys.delayed, keys.dlq);
    redis.disconnect();
  });
  const settle = new Script(SETTLE);
  const retry = (id: string, consumer: string) =>
    settle.run(redis, [keys.stream, keys.delayed, keys.dlq], ['workers', consumer, id, 'retry', '{}', 1000]);
  await redis.xgroup('CREATE', keys.stream, 'workers', '0', 'MKSTREAM');
  await redis.xadd(keys.stream, '*', 'job', '{}');
  await redis.xadd(keys.stream, '*', 'job', '{}');
  const read = async (consumer: string) => {
    const reply = (await redis.xreadgroup(
      'GROUP',
      'workers',
      consumer,
      'COUNT',
      1,
      'STREAMS',
      keys.stream,
      '>',
    )) as [string, [string, string[]][]][];
    return reply[0]![1][0]![0];
  };
  const mine = await read('a');
  const theirs = await read('b');
  assert.equal(await retry(mine, 'a'), 1, 'the retry of an entry held is written');
  assert.equal(await retry(mine, 'a'), -1, 'the same SETTLE again: the entry is pending nowhere');
  assert.equal(await retry(theirs, 'a'), 0, 'an entry another consumer holds: 0');
  assert.equal(await redis.zcard(keys.delayed), 1, 'one retry written in all');
});

// A delayed job is its JSON in the `:delayed` set. ioredis re-sends a SCHEDULE whose answer was lost
// with the connection, the same JSON with the same delay, timed anew on Redis's clock: the plain ZADD
// moved the waiting copy's due time to the re-send's, seconds later after a slow reconnect (the
// later copy's delay won). BullMQ keeps the first add of a job id and NATS the first publish of a
// Nats-Msg-Id: the copy already waiting keeps its due time (ZADD NX). Two copies of a job stored
// twice (a re-sent XADD) that fail alike write identical retries: they wait once, at the first's time.
test('a delayed job scheduled again, or retried twice alike, keeps the first due time', async () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const keys = redisKeys(uniqueName('schedule-resent'), 'q');
  after(async () => {
    await redis.del(keys.stream, keys.delayed, keys.dlq);
    redis.disconnect();
  });
  const redisNow = async () => {
    const [s, us] = await redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };
  const job = JSON.stringify({ id: 'j1', queue: 'q', payload: 1, attempt: 1, publishedAt: 1 });
  const schedule = new Script(SCHEDULE);
  const before = await redisNow();
  assert.equal(await schedule.run(redis, [keys.delayed], [1000, job]), 1, 'the first copy is stored');
  assert.equal(await schedule.run(redis, [keys.delayed], [600_000, job]), 0, 'the same job again is not');
  const due = Number(await redis.zscore(keys.delayed, job));
  assert.ok(
    due - before <= 1000 + 500,
    `the job is due ${due - before} ms after the first publish, not ~1000: the second copy moved its due time`,
  );

  await redis.xgroup('CREATE', keys.stream, 'workers', '0', 'MKSTREAM');
  const retried = JSON.stringify({ id: 'j2', queue: 'q', payload: 2, attempt: 2, publishedAt: 1, stalls: 0 });
  await redis.xadd(keys.stream, '*', 'job', '{}');
  await redis.xadd(keys.stream, '*', 'job', '{}');
  const reply = (await redis.xreadgroup(
    'GROUP',
    'workers',
    'a',
    'COUNT',
    2,
    'STREAMS',
    keys.stream,
    '>',
  )) as [string, [string, string[]][]][];
  const [first, second] = reply[0]![1].map(([id]) => id);
  const settle = new Script(SETTLE);
  const retry = (id: string, delay: number) =>
    settle.run(redis, [keys.stream, keys.delayed, keys.dlq], ['workers', 'a', id, 'retry', retried, delay]);
  const start = await redisNow();
  assert.equal(await retry(first!, 1000), 1);
  assert.equal(await retry(second!, 600_000), 1);
  const retryDue = Number(await redis.zscore(keys.delayed, retried));
  assert.ok(
    retryDue - start <= 1000 + 500,
    `the retry is due ${retryDue - start} ms after the first, not ~1000: the second copy's backoff won`,
  );
});
