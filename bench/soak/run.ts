// bench/soak: `scaleplane up` with the demo app under steady load and periodic scaling for a
// while (default 10 minutes), sampling memory and file descriptors of every process — Scaleplane
// itself (`up`, the instance reaper) and the demo instances — at the start, periodically and at
// the end. Exits 1 when a bound below is exceeded.
//
//   node --import tsx bench/soak/run.ts [--duration 10m] [--scale-every 20s] [--sample-every 30s]
//        [--warmup 150s] [--concurrency 4] [--pause 10ms] [--from src|dist] [--json FILE]
//
// Each client pauses `--pause` between requests: a steady, bounded load (a few hundred requests a
// second) that leaves the shared machine's CPUs to others; `--pause 0ms` goes flat out.
//
// Bounds, between the baseline (after the warm-up) and the end, both taken at 2 ready instances
// under the same load, so the pipes and sockets an instance brings are the same:
//   - RSS of `scaleplane up` grows < 20 % (the warm-up keeps JIT and first-use allocations out,
//     and V8's first shrink: in two 10-minute runs it gave back ~33 MB between 96 s and 126 s, so
//     a baseline before that hides growth)
//   - heap used of `scaleplane up` grows < 50 % (a sample lands anywhere in a GC cycle)
//   - open fds of `scaleplane up` and of the reaper: end ≤ baseline + 10
//   - zero failed requests over the whole run (scale-in drains, scale-out joins when ready)
// RSS and fds come from /proc/PID/status and /proc/PID/fd (no inspector); heap used and total and
// external memory from the `scaleplane_process_nodejs_*` metrics that `up` exposes on /metrics.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { processGroupMembers } from '../../test/helpers/cli-process.js';
import { startLoad } from '../../test/helpers/load.js';
import { freePort } from '../../test/helpers/ports.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'soak-admin-token-0123456789';
const BOUNDS = { rssGrowth: 0.2, heapGrowth: 0.5, fdSlack: 10 };
/** The counts the group cycles through, one per scale tick. */
const CYCLE = [3, 1, 4, 2];

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10m' },
    'scale-every': { type: 'string', default: '20s' },
    'sample-every': { type: 'string', default: '30s' },
    warmup: { type: 'string', default: '150s' },
    concurrency: { type: 'string', default: '4' },
    pause: { type: 'string', default: '10ms' },
    from: { type: 'string', default: 'src' },
    json: { type: 'string' },
  },
});

function ms(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 90s or 10m, got "${text}"`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

const durationMs = ms(args.duration);
const scaleEveryMs = ms(args['scale-every']);
const sampleEveryMs = ms(args['sample-every']);
const warmupMs = ms(args.warmup);
const concurrency = Number(args.concurrency);
const pauseMs = ms(args.pause);
if (args.from !== 'src' && args.from !== 'dist') throw new Error('--from is src or dist');
if (args.from === 'dist' && !existsSync(join(ROOT, 'dist/cli/main.js')))
  throw new Error('--from dist needs `npm run build` first');

/** ProcessSample is what /proc says about one process. */
interface ProcessSample {
  pid: number;
  name: string;
  rssKb: number;
  fds: number;
  sockets: number;
}

function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    let fds = 0;
    let sockets = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      fds++;
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
      } catch {
        // closed while we looked
      }
    }
    return { pid, name: cmdline.slice(0, 60), rssKb, fds, sockets };
  } catch {
    return undefined;
  }
}

/** childrenOf lists the direct children of a process (from /proc/PID/stat). */
function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) children.push(Number(entry));
    } catch {
      // gone
    }
  }
  return children;
}

interface GroupStatus {
  desired: number;
  ready: number;
  instances: { id: string; pid?: number }[];
}

async function api(port: number, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
}

async function group(port: number): Promise<GroupStatus | undefined> {
  try {
    const res = await api(port, 'GET', '/api/scalability/groups/web');
    return res.ok ? ((await res.json()) as GroupStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** NodeMemory is what prom-client's default metrics say about the heap, in bytes. */
interface NodeMemory {
  used?: number;
  total?: number;
  external?: number;
}

async function nodeMemory(port: number): Promise<NodeMemory> {
  try {
    const text = await (await api(port, 'GET', '/metrics')).text();
    const read = (name: string) => {
      const m = new RegExp(`^scaleplane_process_${name} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    return {
      used: read('nodejs_heap_size_used_bytes'),
      total: read('nodejs_heap_size_total_bytes'),
      external: read('nodejs_external_memory_bytes'),
    };
  } catch {
    return {};
  }
}

async function settle(port: number, n: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await group(port);
    if (g?.desired === n && g.ready === n && g.instances.length === n) return;
    if (Date.now() > deadline) throw new Error(`group did not settle at ${n} (last: ${JSON.stringify(g)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function setCount(port: number, n: number): Promise<void> {
  const res = await api(port, 'POST', '/api/scalability/scale-group', {
    group: 'web',
    action: 'set',
    instances: n,
  });
  if (!res.ok) throw new Error(`scale to ${n}: ${res.status} ${await res.text()}`);
}

/** Sample is one row of the report. */
interface Sample {
  atS: number;
  phase: string;
  instances: number;
  upRssMb: number;
  upHeapMb: number | undefined;
  /** V8's committed heap and external (Buffers, native) memory: where RSS goes besides used heap. */
  upHeapTotalMb: number | undefined;
  upExternalMb: number | undefined;
  upFds: number;
  upSockets: number;
  /** Other Scaleplane processes (the reaper; esbuild under --from src). */
  helpers: ProcessSample[];
  instanceRssMb: number;
  instanceFds: number;
  requests: number;
  failures: number;
  load1: number;
}

const dir = await mkdtemp(join(tmpdir(), 'scaleplane-soak-'));
const [apiPort, balancerPort] = [await freePort(), await freePort()];
const configPath = join(dir, 'scaleplane.yaml');
await writeFile(
  configPath,
  `api: { listen: 127.0.0.1:${apiPort} }
balancer:
  listen: 127.0.0.1:${balancerPort}
  algorithm: least-connections
  health: { path: /healthz, interval: 1s }
controller: { interval: 1s }
groups:
  web:
    command: node server.js
    cwd: ${JSON.stringify(join(ROOT, 'examples/demo'))}
    min_instances: 1
    max_instances: 4
    initial_instances: 2
`,
);
const logPath = join(dir, 'scaleplane.log');
const log = openSync(logPath, 'a');
const entry = args.from === 'dist' ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
const up: ChildProcess = spawn(process.execPath, [...entry, 'up', '-c', configPath, '--log-level', 'warn'], {
  cwd: ROOT,
  env: { ...process.env, SCALEPLANE_API_KEY: TOKEN },
  stdio: ['ignore', log, log],
});
closeSync(log);
const upPid = up.pid!;
let upExited = false;
up.once('exit', () => {
  upExited = true;
});

const started = Date.now();
const samples: Sample[] = [];
let load: ReturnType<typeof startLoad> | undefined;

async function sample(phase: string): Promise<Sample> {
  const g = await group(apiPort);
  const instancePgids = (g?.instances ?? []).map((i) => i.pid).filter((p): p is number => p !== undefined);
  const instancePids = processGroupMembers(instancePgids);
  const main = sampleProcess(upPid);
  if (!main) throw new Error('scaleplane up is gone');
  const helpers = childrenOf(upPid)
    .filter((pid) => !instancePgids.includes(pid) && !instancePids.includes(pid))
    .map(sampleProcess)
    .filter((s): s is ProcessSample => s !== undefined);
  const instances = instancePids.map(sampleProcess).filter((s): s is ProcessSample => s !== undefined);
  const memory = await nodeMemory(apiPort);
  const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20);
  const r = load?.result;
  const s: Sample = {
    atS: Math.round((Date.now() - started) / 1000),
    phase,
    instances: g?.instances.length ?? 0,
    upRssMb: main.rssKb / 1024,
    upHeapMb: mb(memory.used),
    upHeapTotalMb: mb(memory.total),
    upExternalMb: mb(memory.external),
    upFds: main.fds,
    upSockets: main.sockets,
    helpers,
    instanceRssMb: instances.reduce((a, p) => a + p.rssKb, 0) / 1024,
    instanceFds: instances.reduce((a, p) => a + p.fds, 0),
    requests: r ? r.ok + r.non2xx + r.errors : 0,
    failures: r ? r.non2xx + r.errors : 0,
    load1: loadavg()[0]!,
  };
  samples.push(s);
  const helperText = helpers
    .map((h) => `${h.name.split(' ')[0]}:${(h.rssKb / 1024).toFixed(1)}MB/${h.fds}fd`)
    .join(' ');
  console.log(
    `${String(s.atS).padStart(5)} s  ${phase.padEnd(8)} inst ${s.instances}  up rss ${s.upRssMb.toFixed(1)} MB` +
      ` heap ${s.upHeapMb?.toFixed(1) ?? '?'}/${s.upHeapTotalMb?.toFixed(1) ?? '?'} MB ext ${s.upExternalMb?.toFixed(1) ?? '?'} MB fds ${s.upFds} (sockets ${s.upSockets})  helpers ${helperText || '-'}` +
      `  instances rss ${s.instanceRssMb.toFixed(1)} MB fds ${s.instanceFds}  requests ${s.requests} failed ${s.failures}` +
      `  load ${s.load1.toFixed(2)}`,
  );
  return s;
}

let exitCode = 1;
try {
  await settle(apiPort, 2);
  // The balancer's port opens right after the group is up: a moment after the API says so.
  for (const deadline = Date.now() + 60_000; ; ) {
    if ((await fetch(`http://127.0.0.1:${balancerPort}/`).catch(() => undefined))?.ok) break;
    if (Date.now() > deadline) throw new Error('the balancer does not answer');
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(
    `soak: ${args.duration} of load (${concurrency} clients, ${args.pause} pause) with a scale call every ${args['scale-every']} ` +
      `(cycle ${CYCLE.join(' → ')}), warm-up ${args.warmup}, scaleplane from ${args.from}, pid ${upPid}; ` +
      `load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ' ',
        )} on ${readdirSync('/sys/devices/system/cpu').filter((c) => /^cpu\d+$/.test(c)).length} CPUs`,
  );
  await sample('start');
  load = startLoad({
    url: `http://127.0.0.1:${balancerPort}/`,
    concurrency,
    pauseMs,
    maxDurationMs: durationMs + 300_000,
  });

  let tick = 0;
  let baseline: Sample | undefined;
  let nextSample = Date.now() + sampleEveryMs;
  let nextScale = Date.now() + scaleEveryMs;
  const end = started + durationMs;
  while (Date.now() < end && !upExited) {
    if (!baseline && Date.now() - started >= warmupMs) {
      await setCount(apiPort, 2);
      await settle(apiPort, 2);
      await new Promise((r) => setTimeout(r, 5000));
      baseline = await sample('baseline');
      nextScale = Date.now() + scaleEveryMs;
    }
    if (Date.now() >= nextScale) {
      await setCount(apiPort, CYCLE[tick++ % CYCLE.length]!);
      nextScale = Date.now() + scaleEveryMs;
    }
    if (Date.now() >= nextSample) {
      await sample('periodic');
      nextSample = Date.now() + sampleEveryMs;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (upExited) throw new Error('scaleplane up exited during the soak');
  await setCount(apiPort, 2);
  await settle(apiPort, 2);
  await new Promise((r) => setTimeout(r, 5000));
  baseline ??= samples[0]!;
  const last = await sample('end');
  const result = await load.stop();
  load = undefined;

  const growth = (a: number, b: number) => (b - a) / a;
  const helperFds = (s: Sample) =>
    s.helpers.filter((h) => !h.name.includes('esbuild')).reduce((a, h) => a + h.fds, 0);
  const checks = [
    {
      what: `scaleplane up RSS growth < ${BOUNDS.rssGrowth * 100} %`,
      ok: growth(baseline.upRssMb, last.upRssMb) < BOUNDS.rssGrowth,
      detail: `${baseline.upRssMb.toFixed(1)} → ${last.upRssMb.toFixed(1)} MB (${(growth(baseline.upRssMb, last.upRssMb) * 100).toFixed(1)} %)`,
    },
    {
      what: `scaleplane up heap used growth < ${BOUNDS.heapGrowth * 100} %`,
      ok:
        baseline.upHeapMb !== undefined &&
        last.upHeapMb !== undefined &&
        growth(baseline.upHeapMb, last.upHeapMb) < BOUNDS.heapGrowth,
      detail: `${baseline.upHeapMb?.toFixed(1)} → ${last.upHeapMb?.toFixed(1)} MB`,
    },
    {
      what: `scaleplane up fds ≤ baseline + ${BOUNDS.fdSlack}`,
      ok: last.upFds <= baseline.upFds + BOUNDS.fdSlack,
      detail: `${baseline.upFds} → ${last.upFds} (sockets ${baseline.upSockets} → ${last.upSockets})`,
    },
    {
      what: `reaper fds ≤ baseline + ${BOUNDS.fdSlack}`,
      ok: helperFds(last) <= helperFds(baseline) + BOUNDS.fdSlack,
      detail: `${helperFds(baseline)} → ${helperFds(last)}`,
    },
    {
      what: 'zero failed requests',
      ok: result.non2xx + result.errors === 0,
      detail: `${result.ok} ok, ${result.non2xx} non-2xx, ${result.errors} errors ${JSON.stringify(result.errorCodes)}`,
    },
  ];
  // Not a bound, a trend: least-squares slope of up's RSS over the samples after the baseline.
  const after = samples.filter((x) => x.atS >= baseline.atS);
  const meanT = after.reduce((a, x) => a + x.atS, 0) / after.length;
  const meanR = after.reduce((a, x) => a + x.upRssMb, 0) / after.length;
  const slope =
    after.reduce((a, x) => a + (x.atS - meanT) * (x.upRssMb - meanR), 0) /
    Math.max(
      1e-9,
      after.reduce((a, x) => a + (x.atS - meanT) ** 2, 0),
    );
  const rss = after.map((x) => x.upRssMb);
  console.log(
    `\nscaleplane up RSS after the baseline: min ${Math.min(...rss).toFixed(1)} MB, max ${Math.max(...rss).toFixed(1)} MB, ` +
      `trend ${(slope * 60).toFixed(2)} MB/min over ${after.length} samples`,
  );
  const total = result.ok + result.non2xx + result.errors;
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `scale calls: ${tick}; requests: ${total} (${(total / seconds).toFixed(0)}/s over ${seconds.toFixed(0)} s)`,
  );
  console.log(
    `load average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const c of checks) console.log(`${c.ok ? 'ok    ' : 'FAILED'} ${c.what}: ${c.detail}`);
  if (args.json)
    await writeFile(args.json, `${JSON.stringify({ args, bounds: BOUNDS, samples, checks }, null, 2)}\n`);
  exitCode = checks.every((c) => c.ok) ? 0 : 1;
} catch (err) {
  console.error(`soak failed: ${err instanceof Error ? err.message : err}`);
  console.error(`log: ${logPath}`);
} finally {
  await load?.stop();
  if (!upExited) {
    const exited = new Promise((r) => up.once('exit', r));
    up.kill('SIGTERM');
    await exited;
  }
  if (exitCode === 0) await rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);
