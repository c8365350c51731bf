// A Redis dead-letter retry moves each letter with one script (REQUEUE): the job added to the
// stream, the letter deleted. The script deleted first: when the add failed (the stream's key
// replaced by another type between the retry's checks and its script, by an operator or a stray
// client), Redis had run the delete, and rolls back nothing: the letter was gone and its job
// nowhere. The script is run here as the retry runs it, on the shared Redis.
//
// And a move re-sent by ioredis (its answer lost with the connection) ran again, found the letters
// the first run had moved gone and answered 0: the retry under-counted what moved. Each move has a
// count key of its own now, and a run that finds it answers with the first run's count.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisKeys } from '../../src/queue/index.js';
import { REQUEUE } from '../../src/queue/redis/scripts.js';
import { uniqueName } from './helpers.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

test('a dead-letter move whose stream key holds another type keeps the letter (Redis)', async () => {
  const keys = redisKeys(uniqueName('wrongtype'), uniqueName('q'));
  const redis = new Redis(url);
  after(async () => {
    await redis.del(...Object.values(keys), `${keys.dlq}:moved:1`, `${keys.dlq}:moved:2`);
    redis.disconnect();
  });
  const move = (call: number, ...pairs: string[]) =>
    redis.eval(REQUEUE, 3, keys.dlq, keys.stream, `${keys.dlq}:moved:${call}`, 60_000, ...pairs);
  const job = JSON.stringify({ id: 'job-1', queue: 'q', payload: 1, attempt: 1, publishedAt: Date.now() });
  const ref = await redis.xadd(keys.dlq, '*', 'job', job, 'error', 'boom', 'reason', 'Failed');
  await redis.set(keys.stream, 'not a stream');
  await assert.rejects(move(1, ref!, job), /WRONGTYPE/, 'the add fails');
  assert.equal(await redis.xlen(keys.dlq), 1, 'the letter is still dead-lettered');
  // And with a stream there, the letter moves: added once, deleted once.
  await redis.del(keys.stream);
  assert.equal(await move(1, ref!, job), 1, 'one moved');
  assert.equal(await move(2, ref!, job), 0, 'a second move finds none');
  assert.deepEqual([await redis.xlen(keys.dlq), await redis.xlen(keys.stream)], [0, 1], 'moved exactly once');
});

test('a dead-letter move run again (re-sent by ioredis) answers the count of the first run (Redis)', async () => {
  const keys = redisKeys(uniqueName('requeue-resent'), uniqueName('q'));
  const count = `${keys.dlq}:moved:1`;
  const redis = new Redis(url);
  after(async () => {
    await redis.del(...Object.values(keys), count);
    redis.disconnect();
  });
  const pairs: string[] = [];
  for (const id of ['job-1', 'job-2']) {
    const job = JSON.stringify({ id, queue: 'q', payload: 1, attempt: 1, publishedAt: Date.now() });
    pairs.push((await redis.xadd(keys.dlq, '*', 'job', job, 'error', 'boom', 'reason', 'Failed'))!, job);
  }
  const move = () => redis.eval(REQUEUE, 3, keys.dlq, keys.stream, count, 60_000, ...pairs);
  assert.equal(await move(), 2, 'the first run moves both');
  assert.equal(await move(), 2, 'the same move run again answers what it moved, not 0');
  assert.deepEqual([await redis.xlen(keys.dlq), await redis.xlen(keys.stream)], [0, 2], 'each moved once');
});
