// bench/balancer/profile.ts: where the balancer's CPU goes per request. Starts the two bench
// backends and one Scaleplane balancer process (workers: 1) under `node --cpu-prof`, loads it with
// wrk, and prints the sampled time per request by broad category and the hottest frames by self time.
//
//   node --import tsx bench/balancer/profile.ts [--duration 10] [--connections 64] [--algorithm ewma]
//   node --import tsx bench/balancer/profile.ts --http2 [--duration 10] [--connections 8] [--streams 8]
//
// --save FILE keeps the .cpuprofile (for Chrome DevTools or a closer look).
//
// --http2: the balancer gets `balancer.tls` (a self-signed certificate from test/helpers/tls.ts, so
// HTTP/2 by ALPN) and h2load drives it with --connections clients × --streams streams, as
// `run.sh --http2` does (defaults 8 × 8 there too).
//
// Needs wrk and h2load (bash scripts/services/nginx.sh installs them). All traffic stays on 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeCertificate } from '../../test/helpers/tls.js';
import { children, freePort, startReady } from './children.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string' },
    streams: { type: 'string', default: '8' },
    http2: { type: 'boolean', default: false },
    algorithm: { type: 'string', default: 'ewma' },
    top: { type: 'string', default: '30' },
    save: { type: 'string' },
  },
});
const here = import.meta.dirname;
const connections = args.connections ?? (args.http2 ? '8' : '64');

/** categoryOf is the broad category a sampled frame's self time counts to; undefined for idle. */
function categoryOf(src: string, functionName: string): string | undefined {
  if (src === '') {
    if (functionName === '(idle)') return undefined;
    if (functionName === '(program)') return 'native, outside JS (TLS, nghttp2, libuv)';
    if (functionName === '(garbage collector)') return 'garbage collector';
    if (/^write/.test(functionName)) return 'writes from JS (socket write syscalls, HTTP/2 stream writes)';
    return 'other native';
  }
  if (src.startsWith('node:internal/http2/')) return 'node:http2 (core, compatibility API)';
  if (src.startsWith('node:_http_')) return 'node:http';
  if (/^node:(events|net|buffer|timers|internal\/(streams|process|timers|stream_base))/.test(src))
    return 'events, streams, nextTick, timers';
  if (src.includes('/undici/')) return 'undici';
  if (src.includes('/prom-client/')) return 'prom-client';
  if (src.includes('/src/')) return 'Scaleplane (src/)';
  if (src.includes('/tsx/') || src.startsWith('node:internal/modules/') || src.includes('cjs-module-lexer'))
    return 'start-up (module loading)';
  return 'other JS';
}

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const dir = await mkdtemp(join(tmpdir(), 'scaleplane-profile-'));
const certificate = args.http2 ? await makeCertificate() : undefined;
try {
  const backends: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    await startReady(join(here, 'backend.mjs'), { PORT: String(port) });
    backends.push(`127.0.0.1:${port}`);
  }
  const port = await freePort();
  const balancer = await startReady(
    join(here, 'scaleplane-server.ts'),
    {
      PORT: String(port),
      BACKENDS: backends.join(','),
      WORKERS: '1',
      ALGORITHM: args.algorithm,
      ...(certificate ? { TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath } : {}),
    },
    { execArgv: ['--import', 'tsx', '--cpu-prof', `--cpu-prof-dir=${dir}`] },
  );
  const load = (seconds: string) =>
    certificate
      ? execFileSync(
          'h2load',
          [`-c${connections}`, `-m${args.streams}`, '-t2', `-D${seconds}`, `https://127.0.0.1:${port}/`],
          { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
        )
      : execFileSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], {
          encoding: 'utf8',
        });
  // Requests a load run completed, for the sampled CPU time per request below.
  const completed = (text: string) =>
    Number((certificate ? /(\d+) done/ : /(\d+) requests in/).exec(text)?.[1] ?? Number.NaN);
  const warmUp = load('3'); // warm-up, not profiled apart
  const out = load(args.duration);
  const requests = completed(warmUp) + completed(out);
  if (certificate && !out.includes('Application protocol: h2'))
    throw new Error(`h2load did not speak h2:\n${out}`);
  console.log(out.trim());
  balancer.kill('SIGTERM');
  await once(balancer, 'exit');

  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))!;
  if (args.save !== undefined) await copyFile(join(dir, file), args.save);
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile;
  const self = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const frames = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url: src, lineNumber } = byId.get(id)!.callFrame;
    const where =
      src === '' ? '' : ` ${src.replace(/^.*\/(node_modules|src|lib)\//, '$1/')}:${lineNumber + 1}`;
    const key = `${functionName || '(anonymous)'}${where}`;
    frames.set(key, (frames.get(key) ?? 0) + us);
  }
  // Busy: all samples but (idle), by broad category, per request. Start-up (module loading) is in
  // it too, and the profiler's own overhead; only the main thread is sampled.
  const categories = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url: src } = byId.get(id)!.callFrame;
    const category = categoryOf(src, functionName);
    if (category !== undefined) categories.set(category, (categories.get(category) ?? 0) + us);
  }
  const busy = [...categories.values()].reduce((a, b) => a + b, 0);
  console.log(
    `\n${requests} requests (warm-up included), ${(busy / 1e6).toFixed(1)} s busy, sampled µs per request:`,
  );
  for (const [category, us] of [...categories].sort((a, b) => b[1] - a[1])) {
    console.log(`${(us / requests).toFixed(1).padStart(6)}  ${category}`);
  }
  console.log(`${(busy / requests).toFixed(1).padStart(6)}  total`);
  console.log(`\nself time, top ${args.top} frames of ${(total / 1e6).toFixed(1)} s sampled:`);
  for (const [key, us] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
  // Inclusive time of Scaleplane's own code: everything under a frame from src/.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url: src } = byId.get(at)!.callFrame;
      if (!src.includes('/src/')) continue;
      const key = `${functionName || '(anonymous)'} ${src.replace(/^.*\/src\//, 'src/')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  console.log('\ninclusive time of Scaleplane frames (src/):');
  for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
  await certificate?.remove();
}
process.exit(0);
