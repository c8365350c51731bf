// The Redis HTTP store's purge by tag on a large tag: it reads the tag's set in bounded chunks, not
// in one reply of every key, and keys stored under the tag while it runs stay listed for the next
// purge. Real Redis at 6379, under a key prefix unique to the test.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { type Command, Redis } from 'ioredis';
import { primaryKey, RedisHttpStore, type StoredResponse } from '../../../src/balancer/cache/index.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

function response(now: number, tags: string[]): StoredResponse {
  return {
    status: 200,
    statusMessage: 'OK',
    headers: ['Content-Type', 'text/plain'],
    body: Buffer.from('body'),
    tags,
    vary: [],
    variant: '',
    etag: undefined,
    lastModified: undefined,
    responseTime: now,
    freshFor: 600_000,
    source: 'max-age',
    initialAge: 0,
    staleWhileRevalidate: 0,
    staleIfError: 0,
    noCache: false,
    mustRevalidate: false,
    expiresAt: now + 600_000,
  };
}

/** fillTag writes `count` entries under `tag` straight into Redis, laid out as the store lays them. */
async function fillTag(redis: Redis, prefix: string, tag: string, count: number): Promise<string[]> {
  const keys = Array.from({ length: count }, (_, i) => primaryKey('big.example', `/item/${i}`));
  const { body, ...meta } = response(Date.now(), [tag]);
  for (let from = 0; from < count; from += 2000) {
    const pipeline = redis.pipeline();
    const chunk = keys.slice(from, from + 2000);
    for (const key of chunk)
      pipeline
        .hset(`${prefix}e:${key}`, 'vary', '', 'm:', JSON.stringify(meta), 'b:', body)
        .pexpire(`${prefix}e:${key}`, 600_000);
    pipeline.sadd(`${prefix}t:${tag}`, ...chunk).pexpire(`${prefix}t:${tag}`, 600_000);
    await pipeline.exec();
  }
  return keys;
}

type Sent = (this: Redis, command: Command) => unknown;

/**
 * watchTagReads calls `seen` with each reply that read members of `tagKey` (SMEMBERS or SSCAN),
 * from any ioredis client of this process, and lets `seen` delay the reply's delivery.
 */
function watchTagReads(tagKey: string, seen: (members: string[]) => Promise<void> | void): () => void {
  const proto = Redis.prototype as unknown as { sendCommand: Sent };
  const original = proto.sendCommand;
  proto.sendCommand = function (this: Redis, command: Command) {
    const sent = original.call(this, command) as Promise<unknown>;
    const [first] = command.args;
    const reads = (command.name === 'smembers' || command.name === 'sscan') && String(first) === tagKey;
    if (!reads || !(sent instanceof Promise)) return sent;
    return sent.then(async (reply) => {
      const members = (command.name === 'sscan' ? (reply as [string, string[]])[1] : reply) as string[];
      await seen(members);
      return reply;
    });
  };
  return () => {
    proto.sendCommand = original;
  };
}

async function setup(t: import('node:test').TestContext) {
  const prefix = `test:http-tag-purge:${randomUUID()}:`;
  const store = new RedisHttpStore({ url: REDIS_URL, keyPrefix: prefix });
  const admin = new Redis(REDIS_URL);
  t.after(async () => {
    await store.close();
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length > 0) await admin.unlink(...keys);
    } while (cursor !== '0');
    await admin.quit();
  });
  await store.ready();
  return { prefix, store, admin };
}

test('purge of a tag of 20,000 keys reads its set in chunks of about 500 and removes every key', async (t) => {
  const { prefix, store, admin } = await setup(t);
  const keys = await fillTag(admin, prefix, 'big', 20_000);
  const replies: number[] = [];
  const unwatch = watchTagReads(`${prefix}t:big`, (members) => {
    replies.push(members.length);
  });
  t.after(unwatch);
  const removed = await store.purge({ urls: [], prefixes: [], tags: ['big'] });
  unwatch();
  const largest = Math.max(...replies);
  // SSCAN's COUNT is a hint: a reply may hold a few more members than asked.
  assert.ok(
    largest <= 1000,
    `the largest read of the tag's set held ${largest} keys (replies: ${replies.length})`,
  );
  assert.equal(removed, 20_000, `purge said it removed ${removed} of 20,000 keys`);
  const left = await admin.exists(...keys.slice(0, 1000), ...keys.slice(-1000));
  assert.equal(left, 0, `${left} of 2,000 sampled entries still in Redis after the purge`);
  assert.equal(await admin.exists(`${prefix}t:big`), 0, "the tag's set is still there, empty of nothing");
});

test('a key stored under the tag while its purge runs stays listed: the next purge of the tag removes it', async (t) => {
  const { prefix, store, admin } = await setup(t);
  await fillTag(admin, prefix, 'docs', 600);
  const late = primaryKey('big.example', '/late');
  const writer = new RedisHttpStore({ url: REDIS_URL, keyPrefix: prefix });
  t.after(() => writer.close());
  await writer.ready();
  let stored = false;
  const unwatch = watchTagReads(`${prefix}t:docs`, async () => {
    if (stored) return;
    stored = true;
    // Between the purge's read of the set and what it does next: a fill that began after the
    // purge was asked for stores its (new) answer under the tag.
    await writer.put(late, response(Date.now(), ['docs']), Date.now());
  });
  t.after(unwatch);
  await store.purge({ urls: [], prefixes: [], tags: ['docs'] });
  unwatch();
  assert.ok(stored, 'the late put never ran: the purge read no member of the tag');
  await store.purge({ urls: [], prefixes: [], tags: ['docs'] });
  const [got] = await store.get(late, Date.now());
  const listed = await admin.sismember(`${prefix}t:docs`, late);
  assert.equal(
    got,
    undefined,
    `the entry stored during the first purge outlived a second purge of its tag (listed in the tag's set: ${listed})`,
  );
});
