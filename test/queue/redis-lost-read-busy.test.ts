// A read whose answer was lost with its connection leaves entries pending under the worker's own
// consumer, unseen; the worker looks for them in its pending list once the connection is back
// (redis-lost-read.test.ts). It looked at the first 100 entries of that list only, and those are
// the oldest: with more than 100 jobs running (concurrency above 100), the unseen entries behind
// them were not found, and came back only through a stall claim, stallTimeout later, counted as a
// stall of a job that never ran (`maxStalls: 0`: dead-lettered unrun). Now the list is read page
// by page until the unseen entries are found.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { uniqueName, waitFor } from './helpers.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function blockedReaderId(redis: Redis, connectionName: string): Promise<string | undefined> {
  const list = String(await redis.client('LIST'));
  for (const line of list.split('\n')) {
    const fields = new Map(line.split(' ').map((kv) => kv.split('=', 2) as [string, string]));
    if (
      fields.get('name') === connectionName &&
      fields.get('cmd') === 'xreadgroup' &&
      fields.get('flags')?.includes('b')
    )
      return fields.get('id');
  }
  return undefined;
}

test('a lost read behind more than 100 running jobs runs as attempt 1, not as a stall (Redis)', async () => {
  const prefix = uniqueName('lostbusy');
  const connectionName = prefix;
  const { hostname, port } = new URL(url);
  const queue = createQueue({
    backend: 'redis',
    prefix,
    redis: { host: hostname, port: Number(port || 6379), connectionName },
  });
  const redis = new Redis(url);
  const name = uniqueName('q');
  let release = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  after(async () => {
    release();
    await queue.close();
    await redis.del(...Object.values(redisKeys(prefix, name)));
    redis.disconnect();
  });
  const running = new Set<string>();
  const runs: { id: string; attempt: number }[] = [];
  const deadLettered: { id: string; reason: string }[] = [];
  const busy = 120;
  const worker = queue.worker(
    name,
    async (payload, job) => {
      runs.push({ id: job.id, attempt: job.attempt });
      if (payload === 'hold') {
        running.add(job.id);
        await released;
      }
    },
    { concurrency: 150, stallTimeout: 3000, maxStalls: 0 },
  );
  worker.on('dead-lettered', (event: { id: string; reason: string }) => deadLettered.push(event));
  await worker.ready;
  for (let i = 0; i < busy; i++) await queue.publish(name, 'hold', { id: `hold-${i}` });
  await waitFor(() => running.size === busy, `${busy} jobs running`);

  let reader: string | undefined;
  await waitFor(async () => {
    reader = await blockedReaderId(redis, connectionName);
    return reader !== undefined;
  }, "the worker's XREADGROUP blocked");
  const job = { id: 'lost-answer', queue: name, payload: 'x', attempt: 1, publishedAt: Date.now() };
  const replies = await redis
    .pipeline()
    .xadd(redisKeys(prefix, name).stream, '*', 'job', JSON.stringify(job))
    .client('KILL', 'ID', String(reader))
    .exec();
  assert.equal(replies?.[1]?.[1], 1, `the reader connection killed: ${JSON.stringify(replies)}`);

  await waitFor(
    () => runs.some((r) => r.id === 'lost-answer') || deadLettered.length > 0,
    'the job to run or be dead-lettered',
    15_000,
  );
  assert.deepEqual(deadLettered, [], 'the job is not dead-lettered as a stall');
  assert.deepEqual(
    runs.filter((r) => r.id === 'lost-answer'),
    [{ id: 'lost-answer', attempt: 1 }],
    'the job runs once, as attempt 1',
  );
});
