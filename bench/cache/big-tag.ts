// deleteByTag over a large tag: how long it takes, whether it finished within its write (or timed out
// and went to the offline queue), and how long reads on the same cache waited meanwhile.
// A tag of N keys is written straight into Redis (values and index, as the cache lays them out),
// then one deleteByTag runs while a reader GETs another key through the same cache without pause.
// CACHE_SRC points at another source tree's src/cache/index.ts to measure that code instead (e.g.
// main before a change): CACHE_SRC=/work/main/src/cache/index.ts npx tsx bench/cache/big-tag.ts
// Run: npx tsx bench/cache/big-tag.ts [N ...]   (Redis on 127.0.0.1:6379; REDIS_URL overrides)
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SIZES = process.argv.slice(2).map(Number);
const source = process.env.CACHE_SRC ?? new URL('../../src/cache/index.ts', import.meta.url).href;
const { createCache } = (await import(source)) as typeof import('../../src/cache/index.js');

const admin = new Redis(REDIS_URL);

async function fill(prefix: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += 5000) {
    const pipeline = admin.pipeline();
    const members: string[] = [];
    for (let i = from; i < Math.min(n, from + 5000); i++) {
      const key = `${prefix}k${i}`;
      members.push(key);
      pipeline.set(key, `sp2 ${Date.now()} 600000 600000 600000 600000 0\n["big"]\n${i}`, 'PX', 600_000);
    }
    pipeline.sadd(`${prefix}__tag:big`, ...members);
    pipeline.pexpire(`${prefix}__tag:big`, 600_000);
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

async function tombstoned(prefix: string, n: number): Promise<number> {
  let count = 0;
  for (let from = 0; from < n; from += 5000) {
    const keys = Array.from({ length: Math.min(n, from + 5000) - from }, (_, i) => `${prefix}k${from + i}`);
    for (const value of await admin.mget(...keys)) if (value?.startsWith('spdel ')) count++;
  }
  return count;
}

async function measure(n: number): Promise<void> {
  const prefix = `spbench:bigtag:${process.pid}:${randomBytes(4).toString('hex')}:`;
  await fill(prefix, n);
  const cache = createCache({ prefix, memory: false, redis: { url: REDIS_URL } });
  const errors = new Map<string, number>();
  cache.on('error', (error) => errors.set(error.code, (errors.get(error.code) ?? 0) + 1));
  await cache.ready();
  await cache.set('probe', 1);
  let reading = true;
  let longestRead = 0;
  let reads = 0;
  const reader = (async () => {
    while (reading) {
      const start = performance.now();
      await cache.get('probe');
      longestRead = Math.max(longestRead, performance.now() - start);
      reads++;
    }
  })();
  const start = performance.now();
  await cache.deleteByTag('big');
  const took = performance.now() - start;
  const done = await tombstoned(prefix, n);
  reading = false;
  await reader;
  const left = await admin.scard(`${prefix}__tag:big`);
  await cache.close();
  await cleanup(prefix);
  const errorText = [...errors].map(([code, count]) => `${code}×${count}`).join(', ') || 'none';
  console.log(
    `${String(n).padStart(7)} keys: deleteByTag resolved in ${took.toFixed(0)} ms with ${done} of ${n} keys tombstoned, ` +
      `${left} left in the index; errors: ${errorText}; ${reads} reads meanwhile, the longest ${longestRead.toFixed(0)} ms`,
  );
}

for (const n of SIZES.length > 0 ? SIZES : [1_000, 10_000, 50_000, 100_000]) await measure(n);
admin.disconnect();
