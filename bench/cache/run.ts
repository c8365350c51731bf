// Acceptance 5 of issue 6: hit throughput of the memory tier, overhead of the Redis tier against
// raw ioredis GET, and the same workloads through BentoCache and cache-manager.
// The memory and the Redis comparison each run in their own fresh process. Inside each, systems
// take turns in short slices (a few thousand ops, in a new random order every time), so a burst of
// load from elsewhere on the machine falls on all of them alike, and no system always follows the
// same one (whose garbage it would collect, or whose connection it would share). A round is a few
// turns of every system; figures are medians over the rounds, with their range. The Redis-tier
// overhead is computed within each round (the same stretch of time), then its median taken; it has
// a run of its own, of many rounds and without the other libraries, because on a shared machine a
// single round's figure swings by ±15 % and only many rounds pin the median to a few %.
// Besides ops/s (wall clock) each system's client CPU per op is printed (process.cpuUsage): on a
// machine shared with other work the wall figures swing with the load, the CPU cost much less.
// A control — raw GET + JSON.parse again, on a connection of its own — shows the noise floor: it
// differs from the baseline only by chance.
// Fairness: each library has its own ioredis connection (the two raw baselines share one) to the
// same Redis, the same 1,000 keys, the same value, 32 calls in flight, no pipelining asked for (the
// node-redis client under @keyv/redis pipelines the commands of one tick by itself); the memory
// tier is off for the Redis comparison. The cache's own connection differs from the default
// only in failure settings (no offline queue, no retries per request), which a connected command's
// path does not touch. Each call makes its loader closure, as an application's call site would.
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
const ROUNDS = Number(process.env.ROUNDS ?? 7);
/** Rounds of the Redis-tier overhead run. */
const OVERHEAD_ROUNDS = Number(process.env.OVERHEAD_ROUNDS ?? 25);
const KEYS = 1000;
const CONCURRENCY = 32;

/** How a comparison takes turns: `rounds` of `slices` turns per system, each of `slice` ops. */
interface Turns {
  rounds: number;
  slice: number;
  slices: number;
  /** Ops per system before the first round, for the JIT to settle. */
  warmUp: number;
}
// A memory-tier hit takes well under a µs: its turns are longer, so that each one is not mostly
// CPU caches refilling after another library's turn.
const MEMORY: Turns = {
  rounds: ROUNDS,
  slice: Number(process.env.MEMORY_SLICE ?? 50_000),
  slices: Number(process.env.MEMORY_SLICES ?? 2),
  warmUp: 100_000,
};
const REDIS: Turns = {
  rounds: ROUNDS,
  slice: Number(process.env.REDIS_SLICE ?? 2_000),
  slices: Number(process.env.REDIS_SLICES ?? 10),
  warmUp: 20_000,
};
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

interface Tally {
  ops: number;
  seconds: number;
  cpuMicros: number;
}

/** Sequential awaits (memory) or `lanes` lanes of sequential awaits (Redis), added to `tally`. */
async function measure(op: Op, ops: number, lanes: number, tally: Tally): Promise<void> {
  const perLane = Math.floor(ops / lanes);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = 0; i < perLane; i++) await op(keys[(lane * 7919 + tally.ops + i) % KEYS]!);
    }),
  );
  tally.seconds += Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  tally.cpuMicros += used.user + used.system;
  tally.ops += perLane * lanes;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds holds each system's result per round, in round order. */
type Rounds = Record<string, Run[]>;

async function compare(title: string, systems: Record<string, Op>, turns: Turns, lanes: number) {
  const { rounds: count, slice, slices, warmUp } = turns;
  const names = Object.keys(systems);
  const rounds: Rounds = Object.fromEntries(names.map((name) => [name, []]));
  for (const name of names)
    await measure(systems[name]!, warmUp, lanes, { ops: 0, seconds: 0, cpuMicros: 0 });
  // A fixed seed: the same order each run (mulberry32).
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  for (let round = 0; round < count; round++) {
    const tallies = Object.fromEntries(names.map((name) => [name, { ops: 0, seconds: 0, cpuMicros: 0 }]));
    for (let s = 0; s < slices; s++) {
      const order = [...names];
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const name of order) await measure(systems[name]!, slice, lanes, tallies[name]!);
    }
    for (const name of names) {
      const t = tallies[name]!;
      rounds[name]!.push({ opsPerSecond: t.ops / t.seconds, cpuMicros: t.cpuMicros / t.ops });
    }
  }
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(
    `\n${title} — ${count} rounds of ${slices} × ${slice} ops per system, ${lanes} in flight; median ops/s (min–max), median client CPU µs/op (min–max)`,
  );
  for (const name of names) {
    const wall = rounds[name]!.map((r) => r.opsPerSecond);
    const cpu = rounds[name]!.map((r) => r.cpuMicros);
    console.log(
      `  ${name.padEnd(40)} ${n(median(wall)).padStart(10)}   (${n(Math.min(...wall))}–${n(Math.max(...wall))})   ${median(cpu).toFixed(2).padStart(6)} µs (${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)})`,
    );
  }
  return rounds;
}

/** overhead prints how much `system` loses against `base`, paired round by round: median (min–max). */
function overhead(rounds: Rounds, system: string, base: string, label: string): void {
  const pairs = rounds[system]!.map((run, i) => ({ run, base: rounds[base]![i]! }));
  const lost = pairs.map(({ run, base }) => (1 - run.opsPerSecond / base.opsPerSecond) * 100);
  const added = pairs.map(({ run, base }) => (run.cpuMicros / base.cpuMicros - 1) * 100);
  const f = (values: number[]) =>
    `${median(values).toFixed(1)} % (${Math.min(...values).toFixed(1)} to ${Math.max(...values).toFixed(1)})`;
  console.log(`  ${label}: ${f(lost)} fewer ops/s, ${f(added)} more client CPU per op`);
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
    MEMORY,
    1,
  );
  const hit = median(memory['scaleplane (memory tier)']!.map((r) => r.opsPerSecond));
  console.log(`\n  memory tier hit: ${Math.round(hit).toLocaleString('en-US')} ops/s`);
  await spMemory.close();
  await bentoMemory.disconnectAll();
  await cmMemory.disconnect();
}

async function redisPhase() {
  const admin = new Redis(REDIS_URL);
  const raw = new Redis(REDIS_URL);
  const control = new Redis(REDIS_URL);
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
  const rawGet: Op = (key) => raw.get(`${RUN}raw:${key}`);
  const rawParse: Op = async (key) => JSON.parse((await raw.get(`${RUN}raw:${key}`))!);
  const scaleplane: Op = (key) => spRedis.getOrSet(key, loaderFor(key));
  const overheadRun = await compare(
    'Redis tier: getOrSet hit (no memory tier) against raw ioredis',
    {
      'raw ioredis GET': rawGet,
      'raw ioredis GET + JSON.parse': rawParse,
      'control: the same again, own connection': async (key) =>
        JSON.parse((await control.get(`${RUN}raw:${key}`))!),
      'scaleplane (redis tier only)': scaleplane,
    },
    { ...REDIS, rounds: OVERHEAD_ROUNDS },
    CONCURRENCY,
  );
  await compare(
    'Redis tier: the same workload through other libraries',
    {
      'raw ioredis GET + JSON.parse': rawParse,
      'scaleplane (redis tier only)': scaleplane,
      'bentocache (redis L2 only)': (key) => bentoRedis.getOrSet({ key, factory: loaderFor(key), ttl: '1h' }),
      'cache-manager (@keyv/redis)': (key) => cmRedis.wrap(key, loaderFor(key), 3_600_000),
    },
    REDIS,
    CONCURRENCY,
  );

  // Overhead = throughput lost (wall), and client CPU added, against the raw baseline in the same round.
  const sp = 'scaleplane (redis tier only)';
  const base = 'raw ioredis GET + JSON.parse';
  console.log(
    `\nSummary of the overhead run, paired round by round: median (min to max) of ${OVERHEAD_ROUNDS} rounds`,
  );
  overhead(overheadRun, sp, base, 'Redis-tier overhead vs raw ioredis GET + JSON.parse (goal ≤ 10 %)');
  overhead(
    overheadRun,
    'control: the same again, own connection',
    base,
    'Noise floor: control vs the same baseline',
  );
  overhead(overheadRun, sp, 'raw ioredis GET', 'Redis-tier overhead vs raw ioredis GET (no parse)');

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
  control.disconnect();
  admin.disconnect();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
