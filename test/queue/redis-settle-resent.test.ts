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
import { Script, SETTLE } from '../../src/queue/redis/scripts.js';
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
