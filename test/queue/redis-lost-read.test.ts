// A Redis worker reads new jobs with XREADGROUP on a connection of its own. Redis moves the entries
// it returns into the consumer's pending list as it answers; when the connection drops before the
// answer reaches the worker, ioredis sends the read again after reconnecting (with `>`, new entries
// only), and the entries already moved stay pending under the worker's consumer, unseen by it. Only
// a stalled-job claim brought them back, stallTimeout later, counted as a stall of a job that never
// ran: with `maxStalls: 0` it was dead-lettered unrun (StallLimit). Now the worker looks for such
// entries in its own pending list after its connection comes back, and runs them as delivered.
//
// The lost answer is made, not waited for: one pipeline from another connection adds the job
// (which answers the worker's blocked read) and kills the worker's reading connection, in the same
// pass of Redis's event loop, before Redis writes that answer out.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { uniqueName, waitFor } from './helpers.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** blockedReaderId finds the worker's connection blocked in XREADGROUP, by its connection name. */
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

test('a job whose XREADGROUP answer was lost with the connection runs as attempt 1, not as a stall (Redis)', async () => {
  const prefix = uniqueName('lostread');
  // Named so this test finds and kills only its own connections on the shared Redis.
  const connectionName = prefix;
  const { hostname, port } = new URL(url);
  const queue = createQueue({
    backend: 'redis',
    prefix,
    redis: { host: hostname, port: Number(port || 6379), connectionName },
  });
  const redis = new Redis(url);
  const name = uniqueName('q');
  after(async () => {
    // Closed first: a running worker makes its group (and stream) again once they are deleted.
    await queue.close();
    await redis.del(...Object.values(redisKeys(prefix, name)));
    redis.disconnect();
  });
  const runs: number[] = [];
  const deadLettered: string[] = [];
  const stallTimeout = 4000;
  const worker = queue.worker(name, (_payload, job) => void runs.push(job.attempt), {
    stallTimeout,
    maxStalls: 0,
  });
  worker.on('dead-lettered', (event: { reason: string }) => deadLettered.push(event.reason));
  await worker.ready;
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
  const killedAt = Date.now();

  await waitFor(
    () => runs.length > 0 || deadLettered.length > 0,
    'the job to run or be dead-lettered',
    3 * stallTimeout,
  );
  const after_ = Date.now() - killedAt;
  assert.deepEqual(deadLettered, [], `the job is not dead-lettered (${after_} ms after the kill)`);
  assert.deepEqual(runs, [1], 'the job runs once, as attempt 1');
  assert.ok(after_ < stallTimeout / 2, `the job ran ${after_} ms after the kill, before any stall claim`);
});
