// HA takeover benchmark: two `scaleplane up` on one config with a lease; SIGKILL the leader and
// time how long until the standby leads (lease expiry + its next attempt) and until the adopted
// instances are ready behind it. Goal (issue 5): under 10 s with the default ttl (6 s).
//
//   npx tsx bench/ha/takeover.ts [--backend redis|postgres] [--ttl 6s] [--runs 3] [--instances 2]
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type LogLine, UpProcess } from '../../test/helpers/cli-process.js';
import { DEMO_DIR, writeTempConfig } from '../../test/helpers/scaleplane.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'redis' },
    ttl: { type: 'string', default: '6s' },
    runs: { type: 'string', default: '3' },
    instances: { type: 'string', default: '2' },
  },
});
const URLS: Record<string, string> = {
  redis: 'redis://127.0.0.1:6379',
  postgres: 'postgres://postgres@127.0.0.1:5432/postgres',
};
const backend = args.backend;
const url = URLS[backend];
if (!url) throw new Error(`--backend must be redis or postgres, got ${backend}`);
const instances = Number(args.instances);
const TOKEN = 'bench-ha-token';
const msg = (prefix: string) => (l: LogLine) => String(l.msg).startsWith(prefix);

async function readyCount(up: UpProcess): Promise<number> {
  const line = await up.waitFor(msg('control API on'), 20_000);
  const { host, port } = line.address as { host: string; port: number };
  const res = await fetch(`http://${host}:${port}/api/scalability/groups/web`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return ((await res.json()) as { ready: number }).ready;
}

async function cleanup(name: string): Promise<void> {
  if (backend === 'redis') {
    const redis = new Redis(url!);
    const keys = await redis.keys(`${name}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    return;
  }
  const client = new pg.Client(url);
  await client.connect();
  for (const t of ['lease', 'desired', 'journal', 'instances'])
    await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(`${name}_${t}`)}`);
  await client.end();
}

async function run(): Promise<{ leads: number; ready: number }> {
  const name = `bench_ha_${randomBytes(3).toString('hex')}`;
  const configPath = await writeTempConfig(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
controller:
  lease: { backend: ${backend}, url: "${url}", ttl: ${args.ttl}, name: ${name} }
groups:
  web:
    command: node server.js
    cwd: ${DEMO_DIR}
    min_instances: ${instances}
    max_instances: ${instances}
`);
  const env = { SCALEPLANE_API_KEY: TOKEN };
  const a = new UpProcess(configPath, env);
  let b: UpProcess | undefined;
  const pids: number[] = [];
  try {
    await a.waitFor(msg('group web is up'), 60_000);
    b = new UpProcess(configPath, env);
    await b.waitFor(msg('standing by'), 60_000);
    pids.push(...a.lines.filter(msg('starting web-')).map((l) => Number(l.pid)));
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    await b.waitFor(msg('became leader'), 60_000);
    const leads = performance.now() - killedAt;
    while ((await readyCount(b)) < instances) await new Promise((r) => setTimeout(r, 50));
    const ready = performance.now() - killedAt;
    if (b.lines.some(msg('starting web-'))) throw new Error('the standby started instances: not adopted');
    return { leads, ready };
  } finally {
    a.child.kill('SIGKILL');
    b?.child.kill('SIGKILL');
    for (const up of [a, b])
      pids.push(...(up?.lines.filter(msg('starting web-')).map((l) => Number(l.pid)) ?? []));
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }
    await cleanup(name);
    await rm(dirname(configPath), { recursive: true, force: true });
  }
}

const results: { leads: number; ready: number }[] = [];
for (let i = 0; i < Number(args.runs); i++) {
  const r = await run();
  results.push(r);
  console.log(
    `run ${i + 1}: standby leads ${(r.leads / 1000).toFixed(2)} s after SIGKILL, ${instances} adopted instances ready ${(r.ready / 1000).toFixed(2)} s`,
  );
}
const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const ready = results.map((r) => r.ready);
console.log(
  `${backend} lease, ttl ${args.ttl}: takeover (adopted instances ready) median ${(median(ready) / 1000).toFixed(2)} s, max ${(Math.max(...ready) / 1000).toFixed(2)} s over ${results.length} runs; goal < 10 s`,
);
