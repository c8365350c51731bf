// Acceptance 5 of issue 6: hit throughput of the memory tier, overhead of the Redis tier against
// raw ioredis GET, and the same workloads through BentoCache and cache-manager.
// Systems alternate round by round (A B C … A B C …); figures are medians of the rounds. The memory
// and the Redis comparison each run in their own fresh process.
// Besides ops/s (wall clock) each system's client CPU per op is printed (process.cpuUsage): on a
// machine shared with other work the wall figures swing with the load, the CPU cost much less.
// Fairness: every Redis system gets its own ioredis connection with default options (ours adds
// only the commandTimeout the tier needs), the same keys, the same value and the same concurrency;
// the memory tier is off for the Redis comparison.
// Run: npx tsx bench/cache/run.ts   (needs Redis on 127.0.0.1:6379; REDIS_URL overrides)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Redis } from 'ioredis';
import { Keyv } from 'keyv';
import { createCache } from '../../src/cache/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const KEYS = 1000;
const MEMORY_OPS = Number(process.env.MEMORY_OPS ?? 300_000);
const REDIS_OPS = Number(process.env.REDIS_OPS ?? 30_000);
const CONCURRENCY = 32;
const RUN = `spbench:${process.pid}:`;

const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
function user(i: number) {
  return {
    id: i,
    name: `User ${i}`,
    email: `user${i}@example.com`,
    createdAt: '2024-01-01T00:00:00.000Z',
    roles: ['reader'],
  };
}
const loaderFor = (key: string) => () => user(Number(key.slice(5)));

type Op = (key: string) => Promise<unknown>;

interface Run {
  opsPerSecond: number;
  /** Client CPU (user + system) per op, µs. */
  cpuMicros: number;
}

/** Sequential awaits (memory) or CONCURRENCY lanes of sequential awaits (Redis). */
async function measure(op: Op, ops: number, lanes: number): Promise<Run> {
  const perLane = Math.floor(ops / lanes);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = 0; i < perLane; i++) await op(keys[(lane * 7919 + i) % KEYS]!);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return {
    opsPerSecond: (perLane * lanes) / seconds,
    cpuMicros: (used.user + used.system) / (perLane * lanes),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Medians {
  opsPerSecond: Record<string, number>;
  cpuMicros: Record<string, number>;
}

async function compare(
  title: string,
  systems: Record<string, Op>,
  ops: number,
  lanes: number,
): Promise<Medians> {
  const results: Record<string, Run[]> = Object.fromEntries(Object.keys(systems).map((name) => [name, []]));
  for (const [, op] of Object.entries(systems)) await measure(op, Math.min(ops, 5000), lanes); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(systems);
    // Rotate the start so no system always runs first in a round.
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      results[name]!.push(await measure(systems[name]!, ops, lanes));
    }
  }
  const of = (pick: (run: Run) => number) =>
    Object.fromEntries(Object.entries(results).map(([name, runs]) => [name, median(runs.map(pick))]));
  const medians = { opsPerSecond: of((r) => r.opsPerSecond), cpuMicros: of((r) => r.cpuMicros) };
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(
    `\n${title} — ${ops} ops × ${ROUNDS} rounds, ${lanes} in flight; median ops/s (min–max), median client CPU µs/op`,
  );
  for (const [name, runs] of Object.entries(results)) {
    const wall = runs.map((r) => r.opsPerSecond);
    console.log(
      `  ${name.padEnd(34)} ${n(medians.opsPerSecond[name]!).padStart(12)}   (${n(Math.min(...wall))}–${n(Math.max(...wall))})   ${medians.cpuMicros[name]!.toFixed(2).padStart(6)} µs`,
    );
  }
  return medians;
}

/**
 * Each phase runs in a fresh process: a Redis phase that follows 1.5 M memory-tier calls in the same
 * process inherits their heap and JIT state, which moved its figures by more than the overhead measured.
 */
async function main() {
  const phase = process.env.CACHE_BENCH_PHASE;
  if (phase === 'memory') return memoryPhase();
  if (phase === 'redis') return redisPhase();
  for (const next of ['memory', 'redis']) {
    const child = fork(fileURLToPath(import.meta.url), { env: { ...process.env, CACHE_BENCH_PHASE: next } });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`${next} phase exited with ${code}`);
  }
}

async function memoryPhase() {
  const spMemory = createCache({ prefix: `${RUN}spm:`, ttl: '1h' });
  const bentoMemory = new BentoCache({
    default: 'm',
    stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false })) },
  });
  const cmMemory = createCacheManager();
  for (const key of keys) {
    await spMemory.getOrSet(key, loaderFor(key));
    await bentoMemory.getOrSet({ key, factory: loaderFor(key), ttl: '1h' });
    await cmMemory.wrap(key, loaderFor(key), 3_600_000);
  }
  const memory = await compare(
    'Memory tier: getOrSet hit',
    {
      'scaleplane (memory tier)': (key) => spMemory.getOrSet(key, loaderFor(key)),
      'bentocache (memory, serialize:false)': (key) =>
        bentoMemory.getOrSet({ key, factory: loaderFor(key), ttl: '1h' }),
      'cache-manager (default Keyv memory)': (key) => cmMemory.wrap(key, loaderFor(key), 3_600_000),
    },
    MEMORY_OPS,
    1,
  );
  console.log(
    `\n  memory tier hit: ${Math.round(memory.opsPerSecond['scaleplane (memory tier)']!).toLocaleString('en-US')} ops/s`,
  );
  await spMemory.close();
  await bentoMemory.disconnectAll();
  await cmMemory.disconnect();
}

async function redisPhase() {
  const admin = new Redis(REDIS_URL);
  const raw = new Redis(REDIS_URL);
  const spRedis = createCache({ prefix: `${RUN}spr:`, ttl: '1h', memory: false, redis: { url: REDIS_URL } });
  await spRedis.ready();
  const bentoRedis = new BentoCache({
    default: 'r',
    stores: {
      r: bentostore().useL2Layer(redisDriver({ connection: new Redis(REDIS_URL), prefix: `${RUN}bento` })),
    },
  });
  const keyvRedis = new KeyvRedis(REDIS_URL);
  const cmRedis = createCacheManager({ stores: [new Keyv({ store: keyvRedis, namespace: `${RUN}cm` })] });
  for (const key of keys) {
    await raw.set(`${RUN}raw:${key}`, JSON.stringify(user(Number(key.slice(5)))), 'EX', 3600);
    await spRedis.getOrSet(key, loaderFor(key));
    await bentoRedis.getOrSet({ key, factory: loaderFor(key), ttl: '1h' });
    await cmRedis.wrap(key, loaderFor(key), 3_600_000);
  }
  const [rawBytes, spBytes] = await Promise.all([
    admin.strlen(`${RUN}raw:${keys[1]}`),
    admin.strlen(`${RUN}spr:${keys[1]}`),
  ]);
  console.log(
    `\nValue in Redis: ${rawBytes} bytes of JSON (raw); ${spBytes} bytes with scaleplane's lifetime header`,
  );
  const redis = await compare(
    'Redis tier: getOrSet hit (no memory tier)',
    {
      'raw ioredis GET': (key) => raw.get(`${RUN}raw:${key}`),
      'raw ioredis GET + JSON.parse': async (key) => JSON.parse((await raw.get(`${RUN}raw:${key}`))!),
      'scaleplane (redis tier only)': (key) => spRedis.getOrSet(key, loaderFor(key)),
      'bentocache (redis L2 only)': (key) => bentoRedis.getOrSet({ key, factory: loaderFor(key), ttl: '1h' }),
      'cache-manager (@keyv/redis)': (key) => cmRedis.wrap(key, loaderFor(key), 3_600_000),
    },
    REDIS_OPS,
    CONCURRENCY,
  );

  // Overhead = throughput lost (wall), and client CPU added (cpu), relative to the raw baseline.
  const wall = redis.opsPerSecond;
  const cpu = redis.cpuMicros;
  const sp = 'scaleplane (redis tier only)';
  const lost = (base: string) => ((1 - wall[sp]! / wall[base]!) * 100).toFixed(1);
  const added = (base: string) => ((cpu[sp]! / cpu[base]! - 1) * 100).toFixed(1);
  console.log('\nSummary');
  console.log(
    `  Redis-tier overhead vs raw ioredis GET + JSON.parse: ${lost('raw ioredis GET + JSON.parse')} % fewer ops/s, ${added('raw ioredis GET + JSON.parse')} % more client CPU per op (goal ≤ 10 %)`,
  );
  console.log(
    `  Redis-tier overhead vs raw ioredis GET (no parse): ${lost('raw ioredis GET')} % fewer ops/s, ${added('raw ioredis GET')} % more client CPU per op`,
  );

  await spRedis.close();
  await bentoRedis.disconnectAll();
  await cmRedis.disconnect();
  let cursor = '0';
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', `${RUN}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await admin.unlink(...found);
  } while (cursor !== '0');
  raw.disconnect();
  admin.disconnect();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
