// bench/balancer: Scaleplane's balancer vs NGINX vs http-proxy vs direct, in front of the same two
// Node backends, measured with wrk in alternating rounds (A B C D, A B C D, ...). Prints the median
// requests/s, p50/p99 latency and CPU time per request (of the proxy's processes, from /proc: robust
// where req/s is not, on a machine shared with other work) of each system, and the ratios to NGINX.
//
//   bash bench/balancer/run.sh [--duration 5] [--rounds 3] [--warmup 5] [--connections 64] [--algorithm p2c]
//   bash bench/balancer/run.sh --http2 [--connections 8] [--streams 8] [--duration 5] [--rounds 3]
//
// --warmup S (default 5): each system is loaded, uncounted, for max(S, --duration) seconds first.
// A warm-up only as long as a short --duration (it was the same run) left Scaleplane's first round
// at 4-9x its steady CPU per request: `--duration 2 --only '1 process'`, three runs at load 16-19,
// round 1 at 553, 512, 391 µs against 57-162 after; with 5 s of warm-up round 1 at 70, 59, 93.
//
// --http2: HTTP/2 over TLS to the proxies (self-signed certificate made by openssl in the temp
// folder), measured with h2load (--connections clients × --streams concurrent streams each, default
// 8 × 8 = wrk's 64 requests in flight), against Scaleplane (`balancer.tls`, HTTP/2 by ALPN) and NGINX
// (`listen … ssl http2`, or `http2 on` from 1.25.1); backends stay HTTP/1.1 keep-alive on both.
// Direct and http-proxy are left out (the backends speak no HTTP/2). p50/p99 come from h2load's
// per-request log (its summary gives only min/max/mean/sd).
//
// Installs nginx, wrk and h2load from Debian packages if missing, and http-proxy into a temp folder
// of its own (never into the repo). All traffic stays on 127.0.0.1.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeCertificate, type TestCertificate } from '../../test/helpers/tls.js';
import { children, freePort, startReady } from './children.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string' },
    streams: { type: 'string', default: '8' },
    http2: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    algorithm: { type: 'string', default: 'ewma' },
    only: { type: 'string' },
  },
});
const h2 = args.http2;
const connections = args.connections ?? (h2 ? '8' : '64');
for (const [flag, value] of [
  ['--connections', connections],
  ['--streams', args.streams],
  ['--threads', args.threads],
  ['--rounds', args.rounds],
  ['--duration', args.duration],
  ['--warmup', args.warmup],
] as const) {
  if (!/^[1-9]\d*$/.test(value))
    throw new Error(`${flag}: want a whole number ≥ 1, got ${JSON.stringify(value)}`);
}
if (h2 && Number(connections) < Number(args.threads))
  throw new Error(`--connections (${connections}) must be ≥ --threads (${args.threads}) for h2load`);
const here = import.meta.dirname;
const cores = availableParallelism();
const nginxConfs: string[] = [];
let tmp: string | undefined;
let certificate: TestCertificate | undefined;

// CPU time of a system's processes per request: robust where req/s is not, on a machine whose other
// work takes the cores away at random.
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** processTree is a process and its children (cluster workers, NGINX workers). */
function processTree(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout ?? '';
  return [pid, ...out.split('\n').filter(Boolean).map(Number)];
}

/** cpuTicks sums utime + stime of the processes, in clock ticks. */
function cpuTicks(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone: counts nothing.
    }
  }
  return ticks;
}

/** stop ends every process the bench started and removes its temp folders; safe to call twice. */
function stop(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const conf of nginxConfs.splice(0)) spawnSync('nginx', ['-c', conf, '-s', 'stop']);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (certificate) rmSync(certificate.dir, { recursive: true, force: true });
}
process.on('exit', stop);
// A signal ends Node without 'exit' handlers: SIGTERM (timeout, CI) left both daemonised NGINX
// masters and the temp folder behind. process.exit runs them.
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
process.on('SIGHUP', () => process.exit(129));

interface Result {
  rps: number;
  /** CPU time of the system's processes per request, µs. */
  cpuUs: number;
  p50: number;
  p99: number;
  errors: number;
}

function ms(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

const warmupSeconds = String(Math.max(Number(args.warmup), Number(args.duration)));

function wrk(port: number, pids: readonly number[] = [], seconds = args.duration): Result {
  const before = cpuTicks(pids);
  const out = execFileSync(
    'wrk',
    [`-t${args.threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`],
    { encoding: 'utf8' },
  );
  const ticks = cpuTicks(pids) - before;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const cpuUs = requests > 0 ? (ticks * 1e6) / CLK_TCK / requests : Number.NaN;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = ms(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = ms(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const errors =
    Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) +
    (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
      .exec(out)
      ?.slice(1)
      .reduce((n, v) => n + Number(v), 0) ?? 0);
  return { rps, cpuUs, p50, p99, errors };
}

/** h2load drives HTTP/2 over TLS; it insists on h2 (no fallback to HTTP/1.1 counted as HTTP/2). */
function h2load(port: number, pids: readonly number[] = [], seconds = args.duration): Result {
  const log = join(tmp!, 'h2load.log');
  const before = cpuTicks(pids);
  const out = execFileSync(
    'h2load',
    [
      `-c${connections}`,
      `-m${args.streams}`,
      `-t${args.threads}`,
      `-D${seconds}`,
      `--log-file=${log}`,
      `https://127.0.0.1:${port}/`,
    ],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const ticks = cpuTicks(pids) - before;
  const protocol = /Application protocol: (\S+)/.exec(out)?.[1];
  if (protocol !== 'h2')
    throw new Error(`h2load on :${port} spoke ${protocol ?? 'nothing'}, not h2:\n${out}`);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded/.exec(out);
  const done = Number(counts?.[3] ?? 0);
  const succeeded = Number(counts?.[4] ?? 0);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1]);
  const latencies = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(line.split('\t')[2]) / 1000)
    .sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const cpuUs = done > 0 ? (ticks * 1e6) / CLK_TCK / done : Number.NaN;
  return { rps, cpuUs, p50: at(0.5), p99: at(0.99), errors: Number(counts?.[1] ?? 0) - succeeded };
}

const load = (port: number, pids: readonly number[] = [], seconds = args.duration) =>
  h2 ? h2load(port, pids, seconds) : wrk(port, pids, seconds);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  tmp = await mkdtemp(join(tmpdir(), 'scaleplane-bench-'));
  const backends: string[] = [];
  const backendPids: number[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    backendPids.push((await startReady(join(here, 'backend.mjs'), { PORT: String(port) })).pid!);
    backends.push(`127.0.0.1:${port}`);
  }
  // `pid`: the system's root process; its CPU per request counts it and its children.
  const systems: { name: string; port: number; pid: number | undefined; pids?: number[] }[] = h2
    ? []
    : [{ name: 'direct (one backend)', port: Number(backends[0]!.split(':')[1]), pid: backendPids[0] }];

  // --http2: one self-signed certificate for Scaleplane and NGINX alike (P-256, as a site would use).
  certificate = h2 ? await makeCertificate() : undefined;
  const cert = certificate?.certPath ?? '';
  const key = certificate?.keyPath ?? '';
  const tlsEnv: Record<string, string> = certificate ? { TLS_CERT: cert, TLS_KEY: key } : {};
  if (certificate) {
    // The NGINX master may not run as this user's group.
    await chmod(certificate.dir, 0o755);
    await chmod(key, 0o644);
  }

  const sp = await freePort();
  const { pid: spPid } = await startReady(
    join(here, 'scaleplane-server.ts'),
    { PORT: String(sp), BACKENDS: backends.join(','), WORKERS: '0', ALGORITHM: args.algorithm, ...tlsEnv },
    { execArgv: ['--import', 'tsx'] },
  );
  systems.push({ name: `scaleplane (${args.algorithm}, ${cores} workers)`, port: sp, pid: spPid });
  const sp1 = await freePort();
  const { pid: sp1Pid } = await startReady(
    join(here, 'scaleplane-server.ts'),
    { PORT: String(sp1), BACKENDS: backends.join(','), WORKERS: '1', ALGORITHM: args.algorithm, ...tlsEnv },
    { execArgv: ['--import', 'tsx'] },
  );
  systems.push({ name: `scaleplane (${args.algorithm}, 1 process)`, port: sp1, pid: sp1Pid });

  // NGINX as ENVIRONMENT.md says to measure it fairly: keep-alive upstreams, HTTP/1.1; once with
  // worker_processes = cores and once with 1, so each Scaleplane setup has an NGINX with as many
  // processes to be compared with. With --http2: TLS and HTTP/2 on the listener (the `listen … http2`
  // parameter before 1.25.1, the `http2 on` directive since), and keepalive_requests raised so that
  // NGINX does not end each HTTP/2 connection after 1000 requests (its default), which Scaleplane
  // does not do either.
  const nginxVersion = /nginx\/(\d+)\.(\d+)\.(\d+)/
    .exec(spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr ?? '')
    ?.slice(1)
    .map(Number) ?? [0, 0, 0];
  const [major = 0, minor = 0, patch = 0] = nginxVersion;
  const http2Directive = major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
  const listenTls = (port: number) =>
    http2Directive ? `listen 127.0.0.1:${port} ssl; http2 on;` : `listen 127.0.0.1:${port} ssl http2;`;
  await mkdir(join(tmp, 'nginx'));
  await chmod(tmp, 0o755);
  await chmod(join(tmp, 'nginx'), 0o755);
  for (const workers of cores > 1 ? [cores, 1] : [1]) {
    const np = await freePort();
    const dir = join(tmp, 'nginx', String(workers));
    await mkdir(dir);
    await chmod(dir, 0o777);
    const conf = join(dir, 'nginx.conf');
    nginxConfs.push(conf);
    await writeFile(
      conf,
      `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream web { ${backends.map((b) => `server ${b};`).join(' ')} keepalive 64; keepalive_timeout 4s; }
  server {
    ${h2 ? `${listenTls(np)} ssl_certificate ${cert}; ssl_certificate_key ${key}; keepalive_requests 1000000;` : `listen 127.0.0.1:${np};`}
    location / { proxy_pass http://web; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
    );
    execFileSync('nginx', ['-c', conf]);
    systems.push({
      name: `nginx (${workers} worker${workers === 1 ? '' : 's'}, keepalive)`,
      port: np,
      pid: Number((await readFile(join(dir, 'nginx.pid'), 'utf8')).trim()),
    });
  }

  const hp = await freePort();
  const prefix = join(tmp, 'http-proxy');
  const installed = h2
    ? { status: -1 }
    : spawnSync('npm', ['i', '--prefix', prefix, '--no-audit', '--no-fund', '--silent', 'http-proxy'], {
        stdio: 'inherit',
      });
  if (installed.status === 0) {
    const { pid: hpPid } = await startReady(join(here, 'http-proxy-server.cjs'), {
      PORT: String(hp),
      BACKENDS: backends.join(','),
      HTTP_PROXY_MODULE: join(prefix, 'node_modules', 'http-proxy'),
    });
    systems.push({ name: 'http-proxy (keep-alive agent)', port: hp, pid: hpPid });
  } else if (!h2) console.log('http-proxy could not be installed: left out');

  const chosen = args.only ? systems.filter((s) => s.name.includes(args.only!)) : systems;
  // Warm up JIT, heaps and connection pools; not counted.
  for (const s of chosen) load(s.port, [], warmupSeconds);
  for (const s of chosen) s.pids = s.pid === undefined ? [] : processTree(s.pid);
  const results = new Map<string, Result[]>(chosen.map((s) => [s.name, []]));
  const rounds = Number(args.rounds);
  for (let r = 0; r < rounds; r++) {
    for (const s of chosen) {
      const result = load(s.port, s.pids);
      results.get(s.name)!.push(result);
      console.log(
        `round ${r + 1} ${s.name}: ${result.rps.toFixed(0)} req/s, ${result.cpuUs.toFixed(0)} µs CPU/req, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms${result.errors ? `, ${result.errors} errors` : ''}`,
      );
    }
  }
  const summary = chosen.map((s) => {
    const rs = results.get(s.name)!;
    return {
      name: s.name,
      rps: median(rs.map((x) => x.rps)),
      cpuUs: median(rs.map((x) => x.cpuUs)),
      p50: median(rs.map((x) => x.p50)),
      p99: median(rs.map((x) => x.p99)),
      errors: rs.reduce((n, x) => n + x.errors, 0),
    };
  });
  const ngx = summary.find((s) => s.name.startsWith('nginx'));
  const ngx1 = summary.find((s) => s.name.startsWith('nginx (1 worker,'));
  console.log(
    h2
      ? `\nmedians of ${rounds} alternating rounds after ${warmupSeconds} s of warm-up each, HTTP/2 over TLS, h2load -t${args.threads} -c${connections} -m${args.streams} -D${args.duration}, ${cores} cores shared by h2load, proxy and backends`
      : `\nmedians of ${rounds} alternating rounds after ${warmupSeconds} s of warm-up each, wrk -t${args.threads} -c${connections} -d${args.duration}s, ${cores} cores shared by wrk, proxy and backends`,
  );
  console.log(
    'system'.padEnd(40),
    'req/s'.padStart(9),
    'p50 ms'.padStart(8),
    'p99 ms'.padStart(8),
    'CPU µs/req'.padStart(11),
    ' ×nginx req/s',
    ' ×nginx p99',
  );
  for (const s of summary) {
    console.log(
      s.name.padEnd(40),
      s.rps.toFixed(0).padStart(9),
      s.p50.toFixed(2).padStart(8),
      s.p99.toFixed(2).padStart(8),
      s.cpuUs.toFixed(0).padStart(11),
      (ngx ? (s.rps / ngx.rps).toFixed(2) : '-').padStart(13),
      (ngx ? (s.p99 / ngx.p99).toFixed(2) : '-').padStart(11),
      s.errors ? ` (${s.errors} errors)` : '',
    );
  }
  const hpx = summary.find((s) => s.name.startsWith('http-proxy'));
  const spx = summary.find((s) => s.name.includes('workers)') && s.name.startsWith('scaleplane'));
  const one = summary.find((s) => s.name.includes('1 process)'));
  // Same number of processes on both sides: the fair pairs.
  if (spx && ngx)
    console.log(
      `scaleplane (${cores} workers) / nginx (${cores} workers): req/s ${(spx.rps / ngx.rps).toFixed(2)}, p99 ${(spx.p99 / ngx.p99).toFixed(2)}`,
    );
  if (one && ngx1)
    console.log(
      `scaleplane (1 process) / nginx (1 worker): req/s ${(one.rps / ngx1.rps).toFixed(2)}, p99 ${(one.p99 / ngx1.p99).toFixed(2)}`,
    );
  if (hpx && spx) console.log(`scaleplane (all cores) / http-proxy req/s: ${(spx.rps / hpx.rps).toFixed(2)}`);
  if (hpx && one) console.log(`scaleplane (1 process) / http-proxy req/s: ${(one.rps / hpx.rps).toFixed(2)}`);
}

try {
  await main();
} finally {
  stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  await certificate?.remove();
}
process.exit(0);
