// Decision journal reads from a state store at journal_size 10,000 (the largest allowed): the
// milliseconds of loadJournalAfter(0) (a standby's stream `hello`, what `events` reads) and of
// loadJournalAfter(newest) (a quiet poll) per store. The journal is filled in the store's own format
// (Redis: one list item per entry; PostgreSQL: one jsonb row each; file: one JSON document),
// entries shaped as the policy writes them (inputs with metric averages and targets).
//
//   npx tsx bench/journal/load.ts [--entries 10000] [--runs 7]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { JournalEntry } from '../../src/controller/index.js';
import { FileState, PostgresState, RedisState, type StateStore } from '../../src/controller/state/index.js';
import { dropPostgresState, dropRedisState } from '../../test/helpers/shared-stores.js';

const { values: args } = parseArgs({
  options: { entries: { type: 'string', default: '10000' }, runs: { type: 'string', default: '7' } },
});
const ENTRIES = Number(args.entries);
const RUNS = Number(args.runs);
const REDIS_URL = 'redis://127.0.0.1:6379';
const PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function entry(seq: number): JournalEntry {
  return {
    seq,
    time: new Date(Date.UTC(2026, 0, 1) + seq * 15_000).toISOString(),
    group: `web-${seq % 3}`,
    source: 'policy',
    before: 3,
    after: 4,
    reasons: ['AboveTarget', 'ScaleUpLimited'],
    message: `cpu 87.5% above target 80% (3 ready): desired 4, scale-up limited to 4 (decision ${seq})`,
    inputs: {
      metrics: [{ name: 'cpu', average: 87.5, target: 80, ready: 3, missing: 0 }],
      stages: { raw: 4, stabilized: 4, rateLimited: 4, clamped: 4 },
      ready: 3,
      min: 1,
      max: 10,
    },
  };
}

const journal = Array.from({ length: ENTRIES }, (_, i) => entry(i + 1));

interface Bench {
  name: string;
  fill(): Promise<StateStore>;
  cleanup(): Promise<void>;
}

const name = `bench_journal_${randomBytes(3).toString('hex')}`;
let dir = '';

const BENCHES: Bench[] = [
  {
    name: 'file',
    async fill() {
      dir = await mkdtemp(join(tmpdir(), 'scaleplane-bench-journal-'));
      const path = join(dir, 'state.json');
      await writeFile(
        path,
        `${JSON.stringify({ version: 1, desired: {}, journal, instances: {}, sizes: {}, alerts: {} })}\n`,
      );
      return new FileState({ path, journalSize: ENTRIES });
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  },
  {
    name: 'redis',
    async fill() {
      const store = new RedisState({ url: REDIS_URL, name, journalSize: ENTRIES });
      await store.connect();
      const redis = new Redis(REDIS_URL);
      for (let i = 0; i < ENTRIES; i += 1000)
        await redis.rpush(
          `${name}:state:journal`,
          ...journal.slice(i, i + 1000).map((e) => JSON.stringify(e)),
        );
      await redis.quit();
      return store;
    },
    cleanup: () => dropRedisState(name),
  },
  {
    name: 'postgres',
    async fill() {
      const store = new PostgresState({ url: PG_URL, name, journalSize: ENTRIES });
      await store.connect();
      const client = new pg.Client(PG_URL);
      await client.connect();
      await client.query(
        `INSERT INTO ${pg.escapeIdentifier(`${name}_journal`)} (entry)
         SELECT e FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n`,
        [JSON.stringify(journal)],
      );
      await client.query(`ANALYZE ${pg.escapeIdentifier(`${name}_journal`)}`);
      await client.end();
      return store;
    },
    cleanup: () => dropPostgresState(name),
  },
];

/** median is the middle of `runs` timings of `read` (one untimed run first, to warm up). */
async function median(read: () => Promise<unknown>): Promise<number> {
  await read();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await read();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

console.log(`journal of ${ENTRIES} entries, median of ${RUNS} runs (ms)`);
console.log('store     loadJournalAfter(0)  loadJournalAfter(newest)  loadJournal');
for (const bench of BENCHES) {
  try {
    const store = await bench.fill();
    const tail = await store.loadJournalAfter(0);
    if (tail.entries.length !== ENTRIES || tail.newestSeq !== ENTRIES)
      throw new Error(`${bench.name}: loadJournalAfter(0) read ${tail.entries.length} entries`);
    const all = await median(() => store.loadJournalAfter(0));
    const quiet = await median(() => store.loadJournalAfter(ENTRIES));
    const whole = await median(() => store.loadJournal());
    console.log(
      `${bench.name.padEnd(9)} ${all.toFixed(1).padStart(19)}  ${quiet.toFixed(1).padStart(24)}  ${whole.toFixed(1).padStart(11)}`,
    );
    await store.close();
  } finally {
    await bench.cleanup();
  }
}
