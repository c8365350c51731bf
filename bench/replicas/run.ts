// Read throughput through the replica router, on real PostgreSQL streaming replication
// (scripts/services/postgres-replica.sh: the bench's own primary 5461 with replicas 5462 and 5463,
// created on the first run and left running for the next). To remove them, for each of
// sp_replica_5463, sp_replica_5462, sp_primary_5461: `pg_dropcluster --stop 15 NAME`, then
// `rm -r /etc/postgresql/15/NAME` (the script's conf.d/scaleplane.conf stays behind, and while that
// folder exists `up` takes the cluster for made and fails to start it). Not the tests' pairs: 5441/5442 is stopped and
// frozen by tests, and 5443 is the steady pair's primary, which `up` with replicas "5442 5443" tried to
// turn into a replica of 5441 (port conflict: the bench died, leaving a stopped cluster and a
// replication slot on 5441 that held its WAL).
//
//   1. overhead: router over one replica vs. a direct pg pool on the same replica (goal ≤ 5 %)
//   2. scale-out: router over two replicas vs. a direct pool on the primary alone
//
// Systems alternate A B A B … and the figures are medians, since on 2 cores the client, the
// servers and everything else share the CPUs.
// Usage: npx tsx bench/replicas/run.ts [--rounds N] [--seconds S] [--concurrency C]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPgRouter } from '../../src/replicas/index.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const PRIMARY = 5461;
const REPLICAS = [5462, 5463];
const ROWS = 10_000;
const SQL = 'SELECT id, v FROM bench_replicas WHERE id = $1';

// flock: one `up` of this trio at a time (two runs at once on a fresh machine would both create it);
// --close, as test/replicas/services.ts does: the servers `up` starts must not inherit the lock.
execFileSync(
  'flock',
  [
    '--close',
    `/tmp/scaleplane-postgres-replica-${PRIMARY}.lock`,
    'bash',
    join(import.meta.dirname, '../../scripts/services/postgres-replica.sh'),
    'up',
  ],
  {
    env: {
      ...process.env,
      SCALEPLANE_PG_PRIMARY_PORT: String(PRIMARY),
      SCALEPLANE_PG_REPLICA_PORTS: REPLICAS.join(' '),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);

const newPool = (port: number) =>
  new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: CONCURRENCY });

type Query = (sql: string, params: unknown[]) => Promise<unknown>;

interface Run {
  /** reads per second */
  rate: number;
  /** client CPU µs per read: robust to other load on the machine, unlike the rate */
  cpu: number;
}

async function measure(query: Query): Promise<Run> {
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      await query(SQL, [1 + Math.floor(Math.random() * ROWS)]);
      done++;
    }
  };
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const cpu = process.cpuUsage(cpuBefore);
  return { rate: done / ((performance.now() - started) / 1000), cpu: (cpu.user + cpu.system) / done };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function compare(label: string, a: [string, Query], b: [string, Query]): Promise<void> {
  await measure(a[1]);
  await measure(b[1]);
  const runs: [Run[], Run[]] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    runs[0].push(await measure(a[1]));
    runs[1].push(await measure(b[1]));
  }
  const rate = runs.map((r) => median(r.map((x) => x.rate))) as [number, number];
  const cpu = runs.map((r) => median(r.map((x) => x.cpu))) as [number, number];
  console.log(`\n${label}`);
  for (const i of [0, 1] as const) {
    const name = (i === 0 ? a : b)[0];
    console.log(
      `  ${name.padEnd(32)} median ${rate[i].toFixed(0).padStart(6)} reads/s, ${cpu[i].toFixed(1)} µs client CPU/read;` +
        ` runs ${runs[i].map((x) => x.rate.toFixed(0)).join(' ')}`,
    );
  }
  console.log(
    `  throughput ratio ${(rate[1] / rate[0]).toFixed(3)} (${((rate[1] / rate[0] - 1) * 100).toFixed(1)} %);` +
      ` client CPU per read ${(cpu[1] - cpu[0]).toFixed(1)} µs (${((cpu[1] / cpu[0] - 1) * 100).toFixed(1)} %)`,
  );
}

const primary = newPool(PRIMARY);
const replicaPools = REPLICAS.map(newPool);
await primary.query('CREATE TABLE IF NOT EXISTS bench_replicas (id int PRIMARY KEY, v text NOT NULL)');
await primary.query(
  `INSERT INTO bench_replicas SELECT g, md5(g::text) FROM generate_series(1, ${ROWS}) g ON CONFLICT DO NOTHING`,
);

const oneReplica = createPgRouter({ primary, replicas: { r1: replicaPools[0]! }, name: 'one' });
const twoReplicas = createPgRouter({
  primary,
  replicas: { r1: replicaPools[0]!, r2: replicaPools[1]! },
  name: 'two',
});
for (const router of [oneReplica, twoReplicas]) {
  router.on('error', (error) => console.error('router error:', error.message));
  await router.start();
}
// Wait until the table has reached both replicas and they are eligible.
while (!twoReplicas.status().every((s) => s.eligible) || !oneReplica.status()[0]?.eligible) {
  await twoReplicas.probeNow();
  await oneReplica.probeNow();
}

console.log(
  `replica router bench: ${CONCURRENCY} concurrent readers, ${SECONDS} s runs, ${ROUNDS} alternating rounds, ` +
    `point SELECT by primary key over ${ROWS} rows; PostgreSQL ${PRIMARY} → ${REPLICAS.join(', ')}`,
);
const direct = replicaPools[0]!;
await compare(
  '1. overhead on the same replica server (goal: router ≥ 0.95 × direct)',
  [`direct pg pool → replica ${REPLICAS[0]}`, (sql, params) => direct.query(sql, params)],
  [`router (query) → replica ${REPLICAS[0]}`, (sql, params) => oneReplica.query(sql, params)],
);
await compare(
  '2. two replicas vs. the primary alone',
  [`direct pg pool → primary ${PRIMARY}`, (sql, params) => primary.query(sql, params)],
  [`router → replicas ${REPLICAS.join(' + ')}`, (sql, params) => twoReplicas.query(sql, params)],
);
const served = await twoReplicas.registry.getSingleMetric('scaleplane_replica_reads_total')?.get();
console.log(
  `  reads by target through the two-replica router: ${served?.values.map((v) => `${v.labels.target}=${v.value}`).join(' ')}`,
);

await Promise.all([oneReplica.close(), twoReplicas.close()]);
await Promise.all([primary.end(), ...replicaPools.map((p) => p.end())]);
