// bench/balancer/profile.ts: where the balancer's CPU goes per request. Starts the two bench
// backends and one Scaleplane balancer process (workers: 1) under `node --cpu-prof`, loads it with
// wrk, and prints the hottest frames by self time and the share of broad categories.
//
//   node --import tsx bench/balancer/profile.ts [--duration 10] [--connections 64] [--algorithm ewma]
//
// Needs wrk (bash scripts/services/nginx.sh installs it). All traffic stays on 127.0.0.1.
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    algorithm: { type: 'string', default: 'ewma' },
    top: { type: 'string', default: '30' },
  },
});
const here = import.meta.dirname;
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

async function start(script: string, env: Record<string, string>, execArgv: string[] = []) {
  const child = fork(script, [], { env: { ...process.env, ...env }, execArgv, stdio: 'inherit' });
  children.push(child);
  const [message] = (await once(child, 'message')) as [unknown];
  if (message !== 'ready') throw new Error(`${script}: unexpected ${String(message)}`);
  return child;
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
try {
  const backends: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    await start(join(here, 'backend.mjs'), { PORT: String(port) });
    backends.push(`127.0.0.1:${port}`);
  }
  const port = await freePort();
  const balancer = await start(
    join(here, 'scaleplane-server.ts'),
    { PORT: String(port), BACKENDS: backends.join(','), WORKERS: '1', ALGORITHM: args.algorithm },
    ['--import', 'tsx', '--cpu-prof', `--cpu-prof-dir=${dir}`],
  );
  const url = `http://127.0.0.1:${port}/`;
  execFileSync('wrk', ['-t2', `-c${args.connections}`, '-d3s', url]); // warm-up, not profiled apart
  const out = execFileSync('wrk', ['-t2', `-c${args.connections}`, `-d${args.duration}s`, url], {
    encoding: 'utf8',
  });
  console.log(out.trim());
  balancer.kill('SIGTERM');
  await once(balancer, 'exit');

  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))!;
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
}
process.exit(0);
