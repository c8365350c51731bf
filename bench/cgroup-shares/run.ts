// CPU share benchmark: N local instances busy-looping beside H CPU hogs outside Scaleplane (ordinary
// processes in its own cgroup). Prints the share of the CPU the instances got, from their ticks in
// /proc, for each case: without a size (no cpu cgroup: each instance competes as one process) and
// with a size (each instance in a cpu cgroup under `scaleplane/<group>`). Fair: N / (N + H).
// Needs root and cgroups; on a shared machine alternate the cases and read the medians.
//
//   npx tsx bench/cgroup-shares/run.ts [--instances 4] [--hogs 2] [--cpu 1] [--seconds 5] [--rounds 3]
import { type ChildProcess, spawn } from 'node:child_process';
import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { detectCgroups, LocalProvider } from '../../src/providers/index.js';
import { readProcTable } from '../../src/providers/local/cpu.js';
import type { InstanceSize } from '../../src/providers/types.js';

const { values: args } = parseArgs({
  options: {
    instances: { type: 'string', default: '4' },
    hogs: { type: 'string', default: '2' },
    cpu: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
  },
});
const instances = Number(args.instances);
const hogs = Number(args.hogs);
const seconds = Number(args.seconds);
const BUSY = 'while :; do :; done';
const GROUP = `bench-shares-${process.pid}`;

// Process groups this bench started (hogs, instances): SIGKILLed however it ends. The hogs are
// detached busy loops: a SIGTERM (timeout, CI) once ended the bench without its finally blocks and
// left them spinning on the shared CPUs, parented to init.
const started = new Set<number>();
function killStarted(): void {
  for (const pgid of started) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  started.clear();
}
process.on('exit', killStarted);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
process.on('SIGHUP', () => process.exit(129));

/** ticksOf sums utime + stime of the processes whose process group is one of `pgids`. */
function ticksOf(pgids: readonly number[]): number {
  const wanted = new Set(pgids);
  return readProcTable()
    .filter((s) => wanted.has(s.pgrp))
    .reduce((sum, s) => sum + s.utime + s.stime, 0);
}

/** measure runs the instances (at `size`) beside the hogs for `seconds`; the instances' share. */
async function measure(size: InstanceSize | undefined): Promise<number> {
  const provider = new LocalProvider({
    group: GROUP,
    healthPath: '',
    ...(size && { size }),
    config: {
      provider: 'local',
      command: BUSY,
      cwd: process.cwd(),
      portEnv: 'PORT',
      env: {},
      host: '127.0.0.1',
      startTimeout: 10_000,
      stopTimeout: 2_000,
      crashLoopLimit: 5,
      crashLoopWindow: 60_000,
    },
  });
  const hogProcs: ChildProcess[] = [];
  try {
    for (let i = 0; i < hogs; i++) {
      const hog = spawn('sh', ['-c', BUSY], { detached: true, stdio: 'ignore' });
      hogProcs.push(hog);
      if (hog.pid !== undefined) started.add(hog.pid);
    }
    await provider.scaleTo(instances);
    const pgids = provider.instances().flatMap((i) => (i.pid === undefined ? [] : [i.pid]));
    for (const pgid of pgids) started.add(pgid);
    const hogPids = hogProcs.flatMap((h) => (h.pid === undefined ? [] : [h.pid]));
    const before = [ticksOf(pgids), ticksOf(hogPids)];
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const inside = ticksOf(pgids) - before[0]!;
    const outside = ticksOf(hogPids) - before[1]!;
    return inside / (inside + outside);
  } finally {
    for (const hog of hogProcs) if (hog.pid !== undefined) process.kill(-hog.pid, 'SIGKILL');
    for (const hog of hogProcs) if (hog.pid !== undefined) started.delete(hog.pid);
    await provider.close();
    started.clear();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, number[]> = { 'no size': [], [`cpu=${args.cpu}`]: [] };
for (let round = 0; round < Number(args.rounds); round++) {
  results['no size']!.push(await measure(undefined));
  results[`cpu=${args.cpu}`]!.push(await measure({ cpu: Number(args.cpu) }));
}
console.log(
  `${instances} instances beside ${hogs} hogs, ${seconds} s each; fair share ${(instances / (instances + hogs)).toFixed(2)}`,
);
for (const [name, shares] of Object.entries(results))
  console.log(
    `${name.padEnd(8)} instances' share: median ${median(shares).toFixed(2)} (${shares.map((s) => s.toFixed(2)).join(' ')})`,
  );
// Every group leaves its (empty) cgroups behind; these are the bench's own. On v1 the pids
// controller's one too (only cpu's was removed: one pids/scaleplane/bench-shares-PID left per run).
const layout = detectCgroups();
const roots =
  layout?.version === 'v1'
    ? [layout.cpuRoot, layout.memoryRoot, ...(layout.pidsRoot ? [layout.pidsRoot] : [])]
    : layout
      ? [layout.root]
      : [];
for (const root of roots) {
  try {
    rmdirSync(join(root, 'scaleplane', GROUP));
  } catch {
    // Not made (no cgroups, no size), or already gone.
  }
}
