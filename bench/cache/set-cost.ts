// What an explicit `set` costs through the Redis tier: sets per second and client CPU per set, 32
// in flight over 1,000 keys, memory tier off. With CACHE_SRC the same runs against another source
// tree (e.g. main before a change), the two taking turns (A B A B …) so load from elsewhere falls on
// both alike; figures are medians over the rounds.
//   CACHE_SRC=/work/main/src/cache/index.ts npx tsx bench/cache/set-cost.ts [rounds]
// Run: npx tsx bench/cache/set-cost.ts [rounds]   (Redis on 127.0.0.1:6379; REDIS_URL overrides)
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROUNDS = Number(process.argv[2] ?? 7);
const OPS = 20_000;
const here = new URL('../../src/cache/index.ts', import.meta.url).href;
const sources: [string, string][] = [['this tree', here]];
if (process.env.CACHE_SRC) sources.push(['CACHE_SRC', process.env.CACHE_SRC]);
type Module = typeof import('../../src/cache/index.js');
const systems = await Promise.all(
  sources.map(async ([name, src]) => {
    const mod = (await import(src)) as Module;
    const prefix = `spbench:setcost:${process.pid}:${randomBytes(4).toString('hex')}:`;
    const cache = mod.createCache({ prefix, memory: false, ttl: '10m', redis: { url: REDIS_URL } });
    await cache.ready();
    return { name, prefix, cache, rates: [] as number[], cpu: [] as number[] };
  }),
);

async function run(
  cache: Module['createCache'] extends (...a: never[]) => infer C ? C : never,
  tags: string[],
) {
  let next = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < OPS) {
        const i = next++;
        await cache.set(`k${i % 1000}`, { id: i, name: 'user', email: 'user@example.com' }, { tags });
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { rate: OPS / seconds, cpuUs: (used.user + used.system) / OPS };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const tags of [[], ['users']]) {
  for (const s of systems) {
    s.rates = [];
    s.cpu = [];
  }
  // Uncounted: without it the first system's first untagged round ran on cold JIT and a fresh
  // connection (2,046 against 2,543 sets/s in a 2-round run, and untagged below tagged).
  for (const s of systems) await run(s.cache, tags);
  for (let round = 0; round < ROUNDS; round++)
    for (const s of round % 2 === 0 ? systems : [...systems].reverse()) {
      const { rate, cpuUs } = await run(s.cache, tags);
      s.rates.push(rate);
      s.cpu.push(cpuUs);
    }
  for (const s of systems)
    console.log(
      `${s.name.padEnd(10)} ${tags.length ? 'tagged  ' : 'untagged'}: ${median(s.rates).toFixed(0)} sets/s ` +
        `(${Math.min(...s.rates).toFixed(0)}-${Math.max(...s.rates).toFixed(0)}), ${median(s.cpu).toFixed(1)} µs CPU per set`,
    );
}
const admin = new Redis(REDIS_URL);
for (const s of systems) {
  await s.cache.close();
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${s.prefix}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await admin.unlink(...keys);
  } while (cursor !== '0');
}
admin.disconnect();
