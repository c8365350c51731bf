// Every Redis worker reads as a consumer of its own (host-pid-random) in the queue's group, and
// none was ever removed: each worker start added one for good (5 workers that came and went left 5;
// a group scaled in and out all day, or crash-looping, piles up thousands, each kept by Redis and
// listed by XINFO CONSUMERS). A queue now removes its workers' consumers as it closes, and a
// claim round removes those of workers that died, once their entries were claimed and they have
// been idle for 4 × stallTimeout. A consumer still holding entries is never removed: DELCONSUMER
// would drop them from the pending list, and no one could claim them again.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { PRUNE_CONSUMERS, Script } from '../../src/queue/redis/scripts.js';
import { backendOptions, uniqueName, waitFor } from './helpers.js';

const url = (backendOptions('redis') as { redis: string }).redis;

async function consumers(redis: Redis, stream: string): Promise<Map<string, number>> {
  const list = (await redis.xinfo('CONSUMERS', stream, 'workers')) as unknown[][];
  return new Map(list.map((c) => [String(c[1]), Number(c[3])]));
}

test('workers that came and went leave no consumer in the group (Redis)', async () => {
  const redis = new Redis(url);
  const name = uniqueName('consumers-closed');
  const { stream } = redisKeys('sp', name);
  after(async () => {
    await redis.del(...Object.values(redisKeys('sp', name)));
    redis.disconnect();
  });
  for (let i = 0; i < 5; i++) {
    const queue = createQueue(backendOptions('redis'));
    let ran!: () => void;
    const done = new Promise<void>((resolve) => {
      ran = resolve;
    });
    queue.worker(name, () => ran());
    await queue.publish(name, i);
    await done;
    await queue.close();
  }
  const left = await consumers(redis, stream);
  assert.deepEqual(
    [...left.keys()],
    [],
    `consumers left after 5 workers closed: ${[...left.keys()].join(', ')}`,
  );
});

test('a dead worker’s consumer is removed once its entry was claimed and it stayed idle (Redis)', async () => {
  const redis = new Redis(url);
  const queue = createQueue(backendOptions('redis'));
  const name = uniqueName('consumers-dead');
  const { stream } = redisKeys('sp', name);
  after(async () => {
    await queue.close();
    await redis.del(...Object.values(redisKeys('sp', name)));
    redis.disconnect();
  });
  await queue.publish(name, 'job');
  // A worker that read the job and died: its consumer holds the entry.
  await redis.xreadgroup('GROUP', 'workers', 'dead', 'COUNT', 1, 'STREAMS', stream, '>');
  const runs: string[] = [];
  queue.worker(name, (payload) => void runs.push(String(payload)), { stallTimeout: 300 });
  await waitFor(async () => !(await consumers(redis, stream)).has('dead'), 'the dead consumer to be removed');
  assert.deepEqual(runs, ['job'], 'its job was claimed and ran once');
});

test('pruning never removes a consumer that holds entries (Redis)', async () => {
  const redis = new Redis(url);
  const stream = `sp:{${uniqueName('prune')}}:stream`;
  after(async () => {
    await redis.del(stream);
    redis.disconnect();
  });
  await redis.xgroup('CREATE', stream, 'workers', '0', 'MKSTREAM');
  await redis.xadd(stream, '*', 'job', 'a');
  await redis.xadd(stream, '*', 'job', 'b');
  await redis.xreadgroup('GROUP', 'workers', 'holder', 'COUNT', 1, 'STREAMS', stream, '>');
  await redis.xreadgroup('GROUP', 'workers', 'emptied', 'COUNT', 1, 'STREAMS', stream, '>');
  // 'holder' read the first entry, 'emptied' the second, which it then acked.
  const [, second] = await redis.xrange(stream, '-', '+');
  const emptied = second?.[0] ?? assert.fail('the stream has two entries');
  await redis.xack(stream, 'workers', emptied);
  // Every consumer idle for 0 ms or more, and 'holder' named as the closing one: only 'emptied' goes.
  const removed = await new Script(PRUNE_CONSUMERS).run(redis, [stream], ['workers', 0, 'holder']);
  assert.equal(removed, 1, 'one consumer removed');
  assert.deepEqual(
    [...(await consumers(redis, stream))],
    [['holder', 1]],
    'the consumer holding an entry stays',
  );
});
