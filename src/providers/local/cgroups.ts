import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ProviderError } from '../errors.js';
import type { InstanceSize } from '../types.js';
import { threadCount } from './cpu.js';

/** CFS_PERIOD_US is the CFS period Scaleplane writes; the quota is `cpu × period`. */
export const CFS_PERIOD_US = 100_000;

/** CgroupLayout is where this machine's cgroups live, found at run time by `detectCgroups`. */
export type CgroupLayout =
  | {
      version: 'v1';
      cpuRoot: string;
      memoryRoot: string;
      /** This process's `pids` cgroup, where unsized instances are tracked (see createTrackingCgroup). */
      pidsRoot?: string;
    }
  | { version: 'v2'; root: string };

/**
 * parseProcCgroup reads `/proc/<pid>/cgroup` (`id:controllers:path` per line) into a map from each
 * controller (`cpu`, `memory`; `''` for the v2 unified line) to its path.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const controllers = match[1]!.split(',');
    for (const controller of controllers) paths.set(controller, match[2]!);
  }
  return paths;
}

/** FsView is the little of the filesystem detection needs, injectable for tests. */
export interface FsView {
  exists(path: string): boolean;
  read(path: string): string;
}

const realFs: FsView = { exists: existsSync, read: (path) => readFileSync(path, 'utf8') };

/**
 * detectCgroups finds the cgroup hierarchy this process may place instances in: v2 when
 * `root/cgroup.controllers` lists cpu and memory (pure unified mount), else v1 when `root/cpu` and
 * `root/memory` are mounted. Instance cgroups nest under this process's own cgroup, so an outer
 * limit still applies. Undefined when neither is usable.
 */
export function detectCgroups(
  root = '/sys/fs/cgroup',
  fs: FsView = realFs,
  selfCgroup?: string,
): CgroupLayout | undefined {
  let own: Map<string, string>;
  try {
    own = parseProcCgroup(selfCgroup ?? fs.read('/proc/self/cgroup'));
  } catch {
    return undefined;
  }
  if (fs.exists(join(root, 'cgroup.controllers'))) {
    const controllers = fs.read(join(root, 'cgroup.controllers')).split(/\s+/);
    if (controllers.includes('cpu') && controllers.includes('memory')) {
      // Scaleplane's own cgroup is the one it moved itself out of (see enableSubtreeControllers), so
      // that another provider in this process, or a restart, does not nest under the leaf.
      const self = own.get('') ?? '/';
      const mine = basename(self) === SUPERVISOR_CGROUP ? dirname(self) : self;
      return { version: 'v2', root: join(root, mine) };
    }
  }
  if (fs.exists(join(root, 'cpu', 'cpu.cfs_quota_us')) && fs.exists(join(root, 'memory'))) {
    return {
      version: 'v1',
      cpuRoot: join(root, 'cpu', own.get('cpu') ?? '/'),
      memoryRoot: join(root, 'memory', own.get('memory') ?? '/'),
      ...(fs.exists(join(root, 'pids', 'cgroup.procs')) && {
        pidsRoot: join(root, 'pids', own.get('pids') ?? '/'),
      }),
    };
  }
  return undefined;
}

/** CgroupWrite is one file write that applies a size: `(file relative to the cgroup, value)`. */
export type CgroupWrite = readonly [file: string, value: string];

/** The CPU weight of one ordinary process (nice 0) as each version writes it: v1 shares, v2 weight. */
export const PROCESS_CPU_WEIGHT = { v1: 1024, v2: 100 } as const;
/** The weights each version accepts. */
const CPU_WEIGHT_RANGE = { v1: [2, 262_144], v2: [1, 10_000] } as const;

/** The file that holds a cgroup's CPU weight, per version. */
export const CPU_WEIGHT_FILE = { v1: 'cpu.shares', v2: 'cpu.weight' } as const;

/** clampCpuWeight keeps a weight within what `version` accepts. */
export function clampCpuWeight(version: 'v1' | 'v2', weight: number): number {
  const [min, max] = CPU_WEIGHT_RANGE[version];
  return Math.min(max, Math.max(min, Math.round(weight)));
}

/**
 * cpuWeight is the CPU weight of an instance of `size` when the machine is busy, as kubelet sets
 * `cpu.shares` from a pod's CPU request (1024 per core): `size.cpu` cores weigh as many ordinary
 * processes. Never less than one process, though (an instance without a CPU size, or of less than
 * a core): `size.cpu` here is a limit, the quota caps it anyway, and weighed by its size a 0.1-CPU
 * instance (102 shares) got 3.5 % of a core on this busy machine (load 15) where it had its 10 %
 * as one process, less than any process outside Scaleplane.
 */
export function cpuWeight(version: 'v1' | 'v2', size: InstanceSize): number {
  return clampCpuWeight(version, Math.max(1, size.cpu ?? 1) * PROCESS_CPU_WEIGHT[version]);
}

/**
 * limitWrites is the pure translation of a size into cgroup file writes, per controller: v1
 * `cpu.cfs_period_us` + `cpu.cfs_quota_us` (-1 = no limit) + `cpu.shares` and
 * `memory.limit_in_bytes`; v2 `cpu.max` (`max` = no limit) + `cpu.weight` and `memory.max`.
 */
export function limitWrites(
  version: 'v1' | 'v2',
  size: InstanceSize,
): { cpu: CgroupWrite[]; memory: CgroupWrite[] } {
  const quota = size.cpu === undefined ? undefined : Math.max(1000, Math.round(size.cpu * CFS_PERIOD_US));
  if (version === 'v1') {
    return {
      cpu: [
        ['cpu.cfs_period_us', String(CFS_PERIOD_US)],
        ['cpu.cfs_quota_us', quota === undefined ? '-1' : String(quota)],
        ['cpu.shares', String(cpuWeight('v1', size))],
      ],
      memory: [['memory.limit_in_bytes', size.memory === undefined ? '-1' : String(size.memory)]],
    };
  }
  return {
    cpu: [
      ['cpu.max', `${quota === undefined ? 'max' : quota} ${CFS_PERIOD_US}`],
      ['cpu.weight', String(cpuWeight('v2', size))],
    ],
    memory: [['memory.max', size.memory === undefined ? 'max' : String(size.memory)]],
  };
}

/** InstanceCgroup is the cgroup(s) of one instance: its `cgroup.procs` files and how to remove them. */
export interface InstanceCgroup {
  /** Directories created (one per v1 controller, one for v2). */
  readonly dirs: readonly string[];
  /** `cgroup.procs` files the instance's leader writes its pid to before it runs the command. */
  readonly procsFiles: readonly string[];
  /**
   * The CPU limit above the instance that its quota was capped at (v1, see cpuCeiling): its size
   * asked for more. Absent when its quota is as asked.
   */
  readonly cpuCappedAt?: CpuCeiling;
}

/** CpuCeiling is the CPU quota of an ancestor cgroup, in cores, and that cgroup. */
export interface CpuCeiling {
  readonly cores: number;
  readonly dir: string;
}

/**
 * cpuCeiling is the CPU limit (v1 `cpu.cfs_quota_us / cpu.cfs_period_us`) of the nearest ancestor
 * of `dir` that has one, up to the hierarchy's mount, undefined when none has. v1 refuses (EINVAL)
 * a quota above it, where v2 takes the lesser of the two (see createInstanceCgroup).
 */
export function cpuCeiling(dir: string): CpuCeiling | undefined {
  for (let parent = dirname(dir); parent !== dirname(parent); parent = dirname(parent)) {
    let quota: number;
    let period: number;
    try {
      quota = Number(readFileSync(join(parent, 'cpu.cfs_quota_us'), 'utf8').trim());
      period = Number(readFileSync(join(parent, 'cpu.cfs_period_us'), 'utf8').trim());
    } catch {
      return undefined; // above the mount: no more cpu cgroups
    }
    if (quota > 0 && period > 0) return { cores: quota / period, dir: parent };
  }
  return undefined;
}

/**
 * createInstanceCgroup makes `scaleplane/<group>/<key>` under each controller of `layout` and
 * writes the limits of `size`. On v1, a CPU quota above that of a cgroup above it (Scaleplane run
 * under a CPU limit: a systemd unit's CPUQuota=, a container's --cpus) is written as that one's,
 * the CPU the instance gets anyway, as v2 does by itself: v1 refuses more (EINVAL), and every
 * resize or `resources` above Scaleplane's own limit was refused as if it had no cgroup rights.
 * Throws ProviderError UNSUPPORTED (with the cause) when the kernel refuses.
 */
export function createInstanceCgroup(
  layout: CgroupLayout,
  group: string,
  key: string,
  size: InstanceSize,
): InstanceCgroup {
  const writes = limitWrites(layout.version, size);
  const plan: Array<[dir: string, writes: CgroupWrite[]]> =
    layout.version === 'v1'
      ? [
          [join(layout.cpuRoot, 'scaleplane', group, key), writes.cpu],
          [join(layout.memoryRoot, 'scaleplane', group, key), writes.memory],
        ]
      : [[join(layout.root, 'scaleplane', group, key), [...writes.cpu, ...writes.memory]]];
  const created: string[] = [];
  let cpuCappedAt: CpuCeiling | undefined;
  try {
    if (layout.version === 'v2') enableV2Controllers(layout.root, group);
    for (const [dir, files] of plan) {
      mkdirSync(dir, { recursive: true });
      created.push(dir);
      for (const [file, value] of files) {
        let written = value;
        if (file === 'cpu.cfs_quota_us' && value !== '-1') {
          const ceiling = cpuCeiling(dir);
          const most = ceiling && Math.max(1000, Math.floor(ceiling.cores * CFS_PERIOD_US));
          if (ceiling && most !== undefined && most < Number(value)) {
            written = String(most);
            cpuCappedAt = ceiling;
          }
        }
        writeFileSync(join(dir, file), written);
      }
    }
    rebalanceCpuWeights(created);
  } catch (err) {
    removeCgroupDirs(created);
    throw new ProviderError(
      'UNSUPPORTED',
      `cannot create cgroup for ${group}/${key}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return {
    dirs: created,
    procsFiles: created.map((dir) => join(dir, 'cgroup.procs')),
    ...(cpuCappedAt && { cpuCappedAt }),
  };
}

/**
 * createTrackingCgroup makes a cgroup that limits nothing for an instance without a size, only so
 * that every process it starts can be found and stopped, as systemd gives every service a cgroup
 * (KillMode=control-group). Signalled by process group only, a helper that left it with setsid()
 * (a daemon, `setsid helper &`) outlived the stop and Scaleplane itself. v1: in the `pids`
 * hierarchy (no limit is written, and neither CPU shares nor memory accounting change); v2:
 * `scaleplane/<group>/<key>` with no controller enabled for it. Throws ProviderError UNSUPPORTED
 * when there is no such hierarchy or the kernel refuses (not root, no delegation).
 */
export function createTrackingCgroup(layout: CgroupLayout, group: string, key: string): InstanceCgroup {
  const base = layout.version === 'v1' ? layout.pidsRoot : layout.root;
  if (base === undefined)
    throw new ProviderError('UNSUPPORTED', 'no cgroup v1 pids hierarchy to track instances in');
  const dir = join(base, 'scaleplane', group, key);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ProviderError('UNSUPPORTED', `cannot create cgroup ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  rebalanceCpuWeights([dir]);
  return { dirs: [dir], procsFiles: [join(dir, 'cgroup.procs')] };
}

/**
 * SUPERVISOR_CGROUP is the leaf, under Scaleplane's own v2 cgroup, that Scaleplane moves itself
 * (and whatever else ran beside it there) into, so that its own cgroup may pass controllers down.
 */
export const SUPERVISOR_CGROUP = 'scaleplane-supervisor';

/** v2 only lets a child use controllers its parent enabled in `cgroup.subtree_control`. */
function enableV2Controllers(root: string, group: string): void {
  for (const dir of [root, join(root, 'scaleplane'), join(root, 'scaleplane', group)]) {
    mkdirSync(dir, { recursive: true });
    enableSubtreeControllers(dir, ['cpu', 'memory']);
  }
}

/**
 * enableSubtreeControllers enables `controllers` for the children of the v2 cgroup `dir`. v2 lets a
 * cgroup other than the root either hold processes or pass controllers down, not both (the "no
 * internal processes" rule): the write fails EBUSY while one runs in it. That is where Scaleplane
 * itself runs under systemd's `Delegate=yes` or in a container with its own cgroup namespace,
 * and every sized start and resize failed there, told to run as root. So, as systemd's delegation
 * guide asks of a delegated service and container runtimes do, the processes in `dir` move to its
 * leaf {@link SUPERVISOR_CGROUP} first, and the write is tried again. A limit on `dir` still
 * applies to them there.
 */
export function enableSubtreeControllers(dir: string, controllers: readonly string[]): void {
  const control = join(dir, 'cgroup.subtree_control');
  const line = controllers.map((c) => `+${c}`).join(' ');
  try {
    writeFileSync(control, line);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
  }
  const leaf = join(dir, SUPERVISOR_CGROUP);
  mkdirSync(leaf, { recursive: true });
  // A process started meanwhile lands in `dir` too: move until none is left (each pass moves the
  // processes it saw; one that exited is ESRCH and gone anyway).
  for (let pass = 0; pass < 10; pass++) {
    const pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        writeFileSync(join(leaf, 'cgroup.procs'), pid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  }
  writeFileSync(control, line);
}

/**
 * cgroupPids lists the live (non-zombie) processes in an instance's cgroups (`dirs`), whatever
 * their process group: one that called setsid() (a daemon, `setsid helper &`) left the group the
 * provider signals but not its cgroup. Empty when there are none or the files cannot be read.
 */
export function cgroupPids(dirs: readonly string[], procRoot = '/proc'): number[] {
  const pids = new Set<number>();
  for (const dir of dirs) {
    let text: string;
    try {
      text = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const pid = Number(line.trim());
      if (!(pid > 0)) continue;
      try {
        // Field 3 of /proc/<pid>/stat, after the `(comm)`: Z is a zombie, already dead, unless
        // only its main thread ended and others still run (a multi-threaded app such as Node as
        // it exits): that one still runs and holds the cgroup (rmdir: EBUSY).
        const stat = readFileSync(join(procRoot, String(pid), 'stat'), 'utf8');
        const zombie = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
        if (!zombie || threadCount(pid, procRoot) > 1) pids.add(pid);
      } catch {
        // Gone since the list was read.
      }
    }
  }
  return [...pids];
}

/**
 * signalCgroups sends `signal` to every process of `dirs` (see cgroupPids) and returns how many
 * there were. A process gone meanwhile is skipped.
 */
export function signalCgroups(dirs: readonly string[], signal: NodeJS.Signals): number {
  const pids = cgroupPids(dirs);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // ESRCH: exited between the read and the signal.
    }
  }
  return pids.length;
}

/** How long, and how often, removeCgroupDirsOnceEmpty tries again a cgroup still busy. */
const CGROUP_REMOVE_RETRY_MS = 5000;
const CGROUP_REMOVE_POLL_MS = 50;

/**
 * removeCgroupDirsOnceEmpty removes an instance's cgroups after it stopped, trying again (every 50
 * ms, for up to 5 s) those still busy (EBUSY): a process whose main thread has ended shows as a
 * zombie while its other threads still exit, and holds its cgroup until they have. Removed once
 * only, some stops of a sized instance left its empty cgroup behind for good (10 after a few runs
 * of the local tests; seen: `pid=11778 state=Z threads=2` in cgroup.procs at the rmdir). Resolves
 * with the directories still there at the end, never rejects.
 */
export async function removeCgroupDirsOnceEmpty(
  dirs: readonly string[],
  retryMs = CGROUP_REMOVE_RETRY_MS,
): Promise<string[]> {
  // Monotonic: with Date.now, a step back of the system clock kept a cgroup that stays busy (a
  // process left in it) tried every 50 ms for as long as the step, not retryMs.
  const deadline = performance.now() + retryMs;
  let left = tryRemove(dirs);
  while (left.length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, CGROUP_REMOVE_POLL_MS).unref());
    left = tryRemove(left);
  }
  rebalanceCpuWeights(dirs);
  return left;
}

/** tryRemove rmdirs each of `dirs` and returns those still busy (EBUSY); gone ones count as removed. */
function tryRemove(dirs: readonly string[]): string[] {
  const busy: string[] = [];
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EBUSY') busy.push(dir);
    }
  }
  return busy;
}

/** removeCgroupDirs removes instance cgroups once empty; failures (still busy, gone) are ignored. */
export function removeCgroupDirs(dirs: readonly string[]): void {
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch {
      // A cgroup with a process left cannot go; the next instance with the same key never comes.
    }
  }
  rebalanceCpuWeights(dirs);
}

/**
 * sumChildWeights is the parent weight for children of `weights`: their sum, within what
 * `version` accepts. With none, the least: a parent without children runs nothing, and so a group
 * cgroup left behind empty adds next to nothing to the `scaleplane` sum.
 */
export function sumChildWeights(version: 'v1' | 'v2', weights: readonly number[]): number {
  if (weights.length === 0) return CPU_WEIGHT_RANGE[version][0];
  return clampCpuWeight(
    version,
    weights.reduce((sum, w) => sum + w, 0),
  );
}

/**
 * rebalanceCpuWeights gives the `<group>` and `scaleplane` cgroups above instance cgroups `dirs`
 * (just created or removed) the sum of their children's CPU weights, as kubelet sizes its QoS and
 * pod cgroups. Each cgroup competes with its siblings by its own weight only, and the default is
 * that of ONE process: with it, every instance of every group shared the CPU of a single process
 * when the machine was busy (4 instances of `cpu: 1` beside 2 hogs on 2 cores: 0.34 of the CPU
 * where 4 processes without cgroups get 0.67). The sums are read from the children on disk, so
 * other groups and other Scaleplane processes under the same `scaleplane` count too. Best effort:
 * a directory without a weight file (v1 memory or pids, a v2 cgroup without the cpu controller)
 * is skipped, and a refused write (no rights) leaves the weight as it was. So is a cgroup left
 * behind (see abandonedCgroup), as of `now`.
 */
export function rebalanceCpuWeights(dirs: readonly string[], now = Date.now()): void {
  // Every group of `scaleplane` is summed again, not only those of `dirs`: a group's weight
  // written before its leftovers aged (or by an older version) would otherwise stay in the sum.
  const scaleplanes = new Set(dirs.map((dir) => dirname(dirname(dir))));
  for (const scaleplane of scaleplanes) {
    if (cpuWeightFile(scaleplane) === undefined) continue;
    try {
      for (const entry of readdirSync(scaleplane, { withFileTypes: true }))
        if (entry.isDirectory()) writeSumOfChildren(join(scaleplane, entry.name), now);
    } catch {
      // Gone meanwhile.
    }
    writeSumOfChildren(scaleplane, now);
  }
}

/** cpuWeightFile is the version whose CPU weight file `dir` has; undefined without (not a cpu cgroup). */
function cpuWeightFile(dir: string): 'v1' | 'v2' | undefined {
  if (existsSync(join(dir, CPU_WEIGHT_FILE.v1))) return 'v1';
  if (existsSync(join(dir, CPU_WEIGHT_FILE.v2))) return 'v2';
  return undefined;
}

/**
 * An instance cgroup empty for longer than this after it was made was left behind (a stop whose
 * rmdir failed, a crash), ms: a started instance's shell joins its cgroup within milliseconds.
 */
const ABANDONED_AFTER_MS = 30_000;

/**
 * abandonedCgroup tells whether `dir` is an instance cgroup left behind: no child cgroup, no
 * process, and made more than ABANDONED_AFTER_MS ago. Counted, such leftovers made `scaleplane`
 * weigh what it does not run: 9 of them under `web` on this machine (test runs) made it 11266
 * shares, and 4 instances of `cpu: 1` took 0.88 of the CPU beside 2 hogs, not the fair 0.67. One
 * just made, whose shell has not joined yet, counts.
 */
export function abandonedCgroup(dir: string, now = Date.now()): boolean {
  try {
    if (readdirSync(dir, { withFileTypes: true }).some((entry) => entry.isDirectory())) return false;
    if (readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '') return false;
    return now - statSync(dir).ctimeMs > ABANDONED_AFTER_MS;
  } catch {
    return false;
  }
}

/** writeSumOfChildren sets `parent`'s CPU weight to the sum of its child cgroups' (see rebalanceCpuWeights). */
function writeSumOfChildren(parent: string, now: number): void {
  const version = cpuWeightFile(parent);
  if (version === undefined) return;
  const file = CPU_WEIGHT_FILE[version];
  const weights: number[] = [];
  try {
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      if (!entry.isDirectory() || abandonedCgroup(join(parent, entry.name), now)) continue;
      try {
        const weight = Number(readFileSync(join(parent, entry.name, file), 'utf8').trim());
        if (weight > 0) weights.push(weight);
      } catch {
        // Removed meanwhile, or a v2 child without the cpu controller.
      }
    }
    writeFileSync(join(parent, file), String(sumChildWeights(version, weights)));
  } catch {
    // Gone, or not ours to write: its weight stays as it was.
  }
}

/**
 * readLimits reads back the limits of the cgroups `pid` is in, from the cgroup files themselves:
 * CPU in cores and memory in bytes (absent = unlimited).
 */
export function readLimits(
  pid: number,
  version: 'v1' | 'v2',
  root = '/sys/fs/cgroup',
): { cpu?: number; memory?: number } {
  const own = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  const read = (...parts: string[]) => readFileSync(join(...parts), 'utf8').trim();
  const result: { cpu?: number; memory?: number } = {};
  if (version === 'v1') {
    const cpuDir = join(root, 'cpu', own.get('cpu') ?? '/');
    const quota = Number(read(cpuDir, 'cpu.cfs_quota_us'));
    if (quota > 0) result.cpu = quota / Number(read(cpuDir, 'cpu.cfs_period_us'));
    const limit = Number(read(root, 'memory', own.get('memory') ?? '/', 'memory.limit_in_bytes'));
    // v1 reports "no limit" as a huge page-rounded number.
    if (limit < 2 ** 60) result.memory = limit;
    return result;
  }
  const dir = join(root, own.get('') ?? '/');
  const [quota, period] = read(dir, 'cpu.max').split(' ');
  if (quota !== 'max') result.cpu = Number(quota) / Number(period);
  const memory = read(dir, 'memory.max');
  if (memory !== 'max') result.memory = Number(memory);
  return result;
}

/**
 * cgroupShellPrefix is the `sh` text that moves the shell into each cgroup before the command runs.
 * `required` (a size's limits): a refused move fails the start (exit 97); otherwise (a tracking
 * cgroup) the instance runs on without it.
 */
export function cgroupShellPrefix(required = true): string {
  // The files come in through the environment, so no path is ever quoted into shell text.
  return required
    ? 'for f in $SCALEPLANE_CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; '
    : 'for f in $SCALEPLANE_CGROUP_PROCS; do echo $$ 2>/dev/null > "$f"; done; ';
}

/** parseOomKills reads the `oom_kill N` line of v1 `memory.oom_control` or v2 `memory.events`; 0 without one. */
export function parseOomKills(text: string): number {
  const match = /^oom_kill\s+(\d+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * oomKills counts the processes the kernel OOM-killed in an instance's cgroups (`dirs`, as
 * createInstanceCgroup made them): read before they are removed. 0 when none or unreadable.
 */
export function oomKills(dirs: readonly string[]): number {
  let kills = 0;
  for (const dir of dirs) {
    for (const file of ['memory.oom_control', 'memory.events']) {
      try {
        kills += parseOomKills(readFileSync(join(dir, file), 'utf8'));
      } catch {
        // Not the memory controller's directory (v1 cpu), or gone.
      }
    }
  }
  return kills;
}
