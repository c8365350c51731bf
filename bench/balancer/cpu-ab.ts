// bench/balancer/cpu-ab.ts: CPU time the balancer process spends per proxied request, for one or
// more source trees (this one, or checkouts of other commits), in interleaved rounds. On a machine
// shared with other work req/s swings by tens of percent; the CPU a process spends per request
// moves far less, and running the trees in turns (A B, B A, A B, …) spreads what drift is left
// over all of them.
//
//   node --import tsx bench/balancer/cpu-ab.ts [--trees DIR,DIR] [--rounds 7] [--requests 40000]
//        [--connections 64] [--algorithm ewma] [--cache] [--cpu-prof DIR]
//
// Each tree (default: this one) runs its own bench/balancer/scaleplane-server.ts (one process,
// workers: 1) in front of the same two backends; a tree made with `git worktree add --detach DIR
// COMMIT` needs node_modules linked in. Every round sends each balancer --requests HTTP/1.1 GETs
// with h2load (--connections keep-alive connections, no pipelining) and reads the balancer's
// CPU time from /proc/PID/task/*/schedstat before and after: µs per request. Prints every round
// and, per tree, the median, min and max, and the median of its per-round ratios to the first tree;
// the same for the two backends' CPU per request while that tree was loaded.
//
// --cache: each balancer has an HTTP response cache in memory that stores every answer
// (scaleplane-server.ts CACHE=memory), so past the warm-up every request is a cache HIT and the
// figure is the cache's CPU per request, the backends idle.
//
// --cpu-prof DIR: each balancer runs under `node --cpu-prof` and leaves its profile in DIR
// (compare self time by function with bench/balancer/profile.ts's reading, or in Chrome DevTools).
// The profiler costs CPU of its own; leave it off for the µs figures.
//
// Needs h2load (bash scripts/services/nginx.sh installs it). All traffic stays on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { children, freePort, startReady } from './children.js';

const { values: args } = parseArgs({
  options: {
    trees: { type: 'string' },
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '40000' },
    connections: { type: 'string', default: '64' },
    algorithm: { type: 'string', default: 'ewma' },
    cache: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
for (const flag of ['rounds', 'requests', 'connections'] as const) {
  if (!/^[1-9]\d*$/.test(args[flag]))
    throw new Error(`--${flag}: want a whole number ≥ 1, got ${JSON.stringify(args[flag])}`);
}
const here = import.meta.dirname;
const trees = (args.trees ?? resolve(here, '../..')).split(',').map((tree) => resolve(tree));
const rounds = Number(args.rounds);
const requests = Number(args.requests);
process.on('SIGINT', () => process.exit(130));

/**
 * cpuNs is the CPU time a process's threads (main, libuv pool, V8's helpers) have run so far, ns,
 * from each thread's /proc/PID/task/TID/schedstat: the scheduler's own count, where utime + stime
 * in /proc/PID/stat come in clock ticks of 10 ms, too coarse for short rounds.
 */
function cpuNs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended meanwhile: its time is in no file any more; rounds are long enough.
    }
  }
  return ns;
}

/**
 * load sends `count` GETs and returns how many got a 2xx and h2load's req/s, throwing when h2load
 * reports failures.
 */
function load(port: number, count: number): { done: number; rps: number } {
  const out = execFileSync(
    'h2load',
    ['--h1', `-n${count}`, `-c${args.connections}`, '-t2', `http://127.0.0.1:${port}/`],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const m = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
    out,
  );
  const status = /status codes: (\d+) 2xx/.exec(out);
  if (!m || !status || Number(m[3]) > 0 || Number(m[4]) > 0 || Number(status[1]) !== count)
    throw new Error(`h2load on port ${port}: not every request got a 2xx:\n${out}`);
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  return { done: Number(status[1]), rps: rps ? Number(rps[1]) : Number.NaN };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const backends: string[] = [];
const backendPids: number[] = [];
for (let i = 0; i < 2; i++) {
  const port = await freePort();
  backendPids.push((await startReady(join(here, 'backend.mjs'), { PORT: String(port) }, { cwd: here })).pid!);
  backends.push(`127.0.0.1:${port}`);
}
const backendsNs = () => backendPids.reduce((ns, pid) => ns + cpuNs(pid), 0);
// us: the balancer's CPU µs per request each round; backendUs: the two backends' (what a tree
// sends them costs them too: a header more is parsed by every backend).
// rps: h2load's req/s each round (noisy on a shared machine; the CPU figures are the robust ones).
const systems: {
  tree: string;
  port: number;
  pid: number;
  us: number[];
  backendUs: number[];
  rps: number[];
}[] = [];
for (const tree of trees) {
  const port = await freePort();
  const prof =
    args['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`];
  const child = await startReady(
    join(tree, 'bench/balancer/scaleplane-server.ts'),
    {
      PORT: String(port),
      BACKENDS: backends.join(','),
      WORKERS: '1',
      ALGORITHM: args.algorithm,
      ...(args.cache ? { CACHE: 'memory' } : {}),
    },
    { cwd: tree, execArgv: ['--import', 'tsx', ...prof] },
  );
  systems.push({ tree, port, pid: child.pid!, us: [], backendUs: [], rps: [] });
}
// Warm-up: the JIT settles and both backends' connection pools fill before anything is counted.
for (const s of systems) load(s.port, Math.min(requests, 20_000));
for (let r = 0; r < rounds; r++) {
  // A B, then B A: a trend in the machine's load falls on every tree alike.
  const order = r % 2 === 0 ? systems : [...systems].reverse();
  for (const s of order) {
    const before = cpuNs(s.pid);
    const beforeBackends = backendsNs();
    const { done, rps } = load(s.port, requests);
    const us = (cpuNs(s.pid) - before) / 1e3 / done;
    const backendUs = (backendsNs() - beforeBackends) / 1e3 / done;
    s.us.push(us);
    s.backendUs.push(backendUs);
    s.rps.push(rps);
    console.log(
      `round ${r + 1} ${s.tree}: ${us.toFixed(1)} µs CPU/request, backends ${backendUs.toFixed(1)} µs, ${rps.toFixed(0)} req/s`,
    );
  }
}
// Each round's trees ran back to back, so the ratio within a round cancels much of what the
// machine's other work adds at the time: the median of those ratios is the figure to compare.
const first = systems[0]!.us;
console.log(
  `\nCPU µs per request, ${rounds} interleaved rounds of ${requests} requests: median [min–max], ×median of the per-round ratios to the first tree`,
);
for (const s of systems) {
  const ratio = median(s.us.map((us, r) => us / first[r]!));
  const backendRatio = median(s.backendUs.map((us, r) => us / systems[0]!.backendUs[r]!));
  console.log(
    `${median(s.us).toFixed(1).padStart(6)} [${Math.min(...s.us).toFixed(1)}–${Math.max(...s.us).toFixed(1)}] ×${ratio.toFixed(3)}  backends ${median(s.backendUs).toFixed(1)} ×${backendRatio.toFixed(3)}  req/s ${median(s.rps).toFixed(0)} [${Math.min(...s.rps).toFixed(0)}–${Math.max(...s.rps).toFixed(0)}] ×${median(s.rps.map((rps, r) => rps / systems[0]!.rps[r]!)).toFixed(3)}  ${s.tree}`,
  );
}
for (const s of systems) process.kill(s.pid, 'SIGTERM');
// SIGTERM lets a --cpu-prof balancer write its profile before it exits.
await Promise.all(
  children.slice(2).map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)),
);
process.exit(0);
