// A Redis worker reads with XREADGROUP BLOCK 1000 on a connection of its own, and close() ends
// that block at once with CLIENT UNBLOCK <id> from the command connection. The id was read once,
// when the worker started: after the reading connection dropped and came back (a new connection,
// a new id), close() unblocked a client that no longer existed and waited out the block, ~870 ms
// instead of 1–2 ms. Now the id is read again on each reconnect.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { createQueue, redisKeys } from '../../src/queue/index.js';
import { uniqueName, waitFor } from './helpers.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The worker's XREADGROUP blocks for 1000 ms; a close() that waits it out takes most of that. */
const CLOSE_BOUND = 500;

/** blockedReaderId finds the connection named `connectionName` blocked in XREADGROUP. */
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

test('worker.close() after its reading connection reconnected ends the blocked read at once (Redis)', async (t) => {
  const prefix = uniqueName('closereconn');
  // Named so this test finds and kills only its own connections on the shared Redis.
  const connectionName = prefix;
  const { hostname, port } = new URL(url);
  const queue = createQueue({
    backend: 'redis',
    prefix,
    redis: { host: hostname, port: Number(port || 6379), connectionName },
    reconnect: { initial: 20, max: 100 },
  });
  queue.on('error', () => {});
  const redis = new Redis(url);
  const name = uniqueName('q');
  after(async () => {
    await queue.close();
    await redis.del(...Object.values(redisKeys(prefix, name)));
    redis.disconnect();
  });
  const worker = queue.worker(name, () => {});
  worker.on('error', () => {});
  await worker.ready;

  let first: string | undefined;
  await waitFor(async () => {
    first = await blockedReaderId(redis, connectionName);
    return first !== undefined;
  }, "the worker's XREADGROUP blocked");
  assert.equal(await redis.client('KILL', 'ID', String(first)), 1, `reader connection ${first} killed`);

  let second: string | undefined;
  await waitFor(async () => {
    second = await blockedReaderId(redis, connectionName);
    return second !== undefined && second !== first;
  }, "the worker's reading connection back and blocked again");

  const startedAt = performance.now();
  await worker.close();
  const took = Math.round(performance.now() - startedAt);
  t.diagnostic(`close() took ${took} ms after the reader reconnected`);
  assert.ok(
    took < CLOSE_BOUND,
    `close() took ${took} ms after the reader reconnected (id ${first} → ${second}); bound ${CLOSE_BOUND} ms, the block is 1000 ms`,
  );
});
