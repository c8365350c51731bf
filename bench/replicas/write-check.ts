// What the read_only check costs a write through a user read_only does not bind (root: ALL
// PRIVILEGES), on the replica tests' MariaDB pair (scripts/services/mariadb-replica.sh: primary 3341):
// the same INSERTs through a router over a root pool (checked: one more round trip each) and over
// the `scaleplane` user (bound by read_only: not checked), one at a time and 16 at a time.
// Systems alternate A B A B …; figures are medians, since on 2 cores everything shares the CPUs.
// Usage: npx tsx bench/replicas/write-check.ts [--rounds N] [--writes W]
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { createMysqlRouter } from '../../src/replicas/index.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, writes: { type: 'string', default: '2000' } },
});
const ROUNDS = Number(values.rounds);
const WRITES = Number(values.writes);
const PRIMARY = 3341;
const TABLE = 'bench_write_check';

execFileSync('bash', [join(import.meta.dirname, '../../scripts/services/mariadb-replica.sh'), 'up'], {
  env: {
    ...process.env,
    SCALEPLANE_MARIADB_PRIMARY_PORT: String(PRIMARY),
    SCALEPLANE_MARIADB_REPLICA_PORTS: '3342',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});

const pool = (user: string, password: string) =>
  mysql.createPool({
    host: '127.0.0.1',
    port: PRIMARY,
    user,
    password,
    database: 'scaleplane_test',
    connectionLimit: 16,
  });

async function measure(user: string, password: string, concurrency: number): Promise<number> {
  const primary = pool(user, password);
  const db = createMysqlRouter({ primary, replicas: {}, name: `write-check-${user}`, heartbeatTable: false });
  db.on('error', () => {});
  await db.start();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < WRITES) {
        const id = next++;
        await db.write(`INSERT INTO ${TABLE} (v) VALUES (?)`, [id]);
      }
    }),
  );
  const micros = ((performance.now() - started) * 1000) / WRITES;
  await db.close();
  await primary.end();
  return micros;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const setup = pool('root', '');
await setup.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)`);
for (const concurrency of [1, 16]) {
  const checked: number[] = [];
  const unchecked: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    checked.push(await measure('root', '', concurrency));
    unchecked.push(await measure('scaleplane', 'scaleplane', concurrency));
  }
  const a = median(checked);
  const b = median(unchecked);
  console.log(
    `concurrency ${concurrency}: checked (root) ${a.toFixed(0)} µs/write, unchecked (scaleplane) ${b.toFixed(0)} µs/write, ratio ${(a / b).toFixed(2)} (medians of ${ROUNDS} × ${WRITES} writes)`,
  );
}
await setup.query(`DROP TABLE ${TABLE}`);
await setup.end();
