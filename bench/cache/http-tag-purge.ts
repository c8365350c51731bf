// The HTTP response cache's purge by tag over a large tag (Redis store): how long it takes, whether
// it succeeds within the command timeout, and how long another client's reads of Redis waited
// meanwhile. A tag of N keys is written straight into Redis (entries and set, as the store lays them
// out), then one purge runs while a reader GETs a key on its own connection without pause.
// STORE_SRC points at another source tree's src/balancer/cache/index.ts to measure that code
// instead (e.g. main before a change):
//   STORE_SRC=/work/main/src/balancer/cache/index.ts npx tsx bench/cache/http-tag-purge.ts
// Run: npx tsx bench/cache/http-tag-purge.ts [N ...]   (Redis on 127.0.0.1:6379; REDIS_URL overrides)
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SIZES = process.argv.slice(2).map(Number);
const source = process.env.STORE_SRC ?? new URL('../../src/balancer/cache/index.ts', import.meta.url).href;
const { RedisHttpStore, primaryKey } = (await import(
  source
)) as typeof import('../../src/balancer/cache/index.js');

const admin = new Redis(REDIS_URL);

async function fill(prefix: string, n: number): Promise<void> {
  const meta = JSON.stringify({
    status: 200,
    statusMessage: 'OK',
    headers: [],
    tags: ['big'],
    vary: [],
    variant: '',
    expiresAt: Date.now() + 600_000,
  });
  for (let from = 0; from < n; from += 5000) {
    const pipeline = admin.pipeline();
    const keys: string[] = [];
    for (let i = from; i < Math.min(n, from + 5000); i++) {
      const key = primaryKey('big.example', `/item/${i}`);
      keys.push(key);
      pipeline
        .hset(`${prefix}e:${key}`, 'vary', '', 'm:', meta, 'b:', 'x'.repeat(200))
        .pexpire(`${prefix}e:${key}`, 600_000);
    }
    pipeline.sadd(`${prefix}t:big`, ...keys).pexpire(`${prefix}t:big`, 600_000);
    await pipeline.exec();
  }
}

async function cleanup(prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await admin.unlink(...keys);
  } while (cursor !== '0');
}

async function measure(n: number): Promise<void> {
  const prefix = `spbench:httptag:${process.pid}:${randomBytes(4).toString('hex')}:`;
  await fill(prefix, n);
  const store = new RedisHttpStore({ url: REDIS_URL, keyPrefix: prefix });
  await store.ready();
  const reader = new Redis(REDIS_URL);
  await reader.set(`${prefix}probe`, '1', 'PX', 600_000);
  let reading = true;
  let longestRead = 0;
  let reads = 0;
  const readerLoop = (async () => {
    while (reading) {
      const start = performance.now();
      await reader.get(`${prefix}probe`);
      longestRead = Math.max(longestRead, performance.now() - start);
      reads++;
    }
  })();
  const start = performance.now();
  let outcome: string;
  try {
    outcome = `removed ${await store.purge({ urls: [], prefixes: [], tags: ['big'] })}`;
  } catch (err) {
    outcome = `failed (${(err as Error).message})`;
  }
  const took = performance.now() - start;
  reading = false;
  await readerLoop;
  let left = 0;
  for (let from = 0; from < n; from += 5000) {
    const keys = Array.from(
      { length: Math.min(n, from + 5000) - from },
      (_, i) => `${prefix}e:${primaryKey('big.example', `/item/${from + i}`)}`,
    );
    left += await admin.exists(...keys);
  }
  await store.close();
  reader.disconnect();
  await cleanup(prefix);
  console.log(
    `${String(n).padStart(7)} keys: purge ${outcome} in ${took.toFixed(0)} ms, ${left} entries left; ` +
      `${reads} reads by another client meanwhile, the longest ${longestRead.toFixed(1)} ms`,
  );
}

for (const n of SIZES.length > 0 ? SIZES : [10_000, 50_000, 100_000]) await measure(n);
admin.disconnect();
