import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProcCgroup } from './cgroups.js';
import { type ProcStat, readProcTable } from './cpu.js';

/**
 * MemoryReading is the memory of one instance, in bytes, and where it came from: `cgroup` is the
 * working set of the instance's own cgroup (what the kubelet and cAdvisor report and evict on),
 * `rss` the sum of resident set sizes over the instance's process group.
 */
export interface MemoryReading {
  bytes: number;
  source: 'cgroup' | 'rss';
}

/** InstanceCgroupPath is the memory cgroup an instance runs in, relative to its hierarchy's mount. */
export interface InstanceCgroupPath {
  version: 'v1' | 'v2';
  path: string;
}

/**
 * parseMemoryStat reads `memory.stat` (`key value` per line) into a map. Lines that are not a key
 * and an integer are skipped.
 */
export function parseMemoryStat(text: string): Map<string, number> {
  const stat = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+)\s+(\d+)$/.exec(line.trim());
    if (match) stat.set(match[1]!, Number(match[2]));
  }
  return stat;
}

/**
 * parseVmRss reads `VmRSS` of a `/proc/<pid>/status` text, in bytes (the kernel writes kB, meaning
 * KiB). Undefined when absent: kernel threads and zombies have none.
 */
export function parseVmRss(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * workingSetBytes is cAdvisor's working set: usage (v2 `memory.current`, v1 `memory.usage_in_bytes`)
 * less the inactive file cache (v2 `inactive_file`, v1 `total_inactive_file` of `memory.stat`),
 * which the kernel reclaims before it runs out. Never below 0. The kubelet evicts on this figure
 * and the OOM killer acts near it, which is why HPA's memory metric is it rather than RSS.
 */
export function workingSetBytes(usage: number, inactiveFile: number | undefined): number {
  if (inactiveFile === undefined) return usage;
  return inactiveFile < usage ? usage - inactiveFile : 0;
}

/** The cgroups createInstanceCgroup makes: `…/scaleplane/<group>/<key>`. */
const INSTANCE_CGROUP = /(^|\/)scaleplane\/[^/]+\/[^/]+$/;

/**
 * instanceCgroupPath picks, from a `/proc/<pid>/cgroup` text, the memory cgroup of an instance
 * when the instance has a cgroup of its own (v1 `memory` line first, else the v2 unified line).
 * Undefined when the process sits in a shared cgroup (no resources set): its usage would be the
 * whole cgroup's, not the instance's.
 */
export function instanceCgroupPath(procCgroup: string): InstanceCgroupPath | undefined {
  const paths = parseProcCgroup(procCgroup);
  const v1 = paths.get('memory');
  if (v1 !== undefined) return INSTANCE_CGROUP.test(v1) ? { version: 'v1', path: v1 } : undefined;
  const v2 = paths.get('');
  return v2 !== undefined && INSTANCE_CGROUP.test(v2) ? { version: 'v2', path: v2 } : undefined;
}

/**
 * cgroupWorkingSet reads the working set of one cgroup through `read` (a file's text; throws when
 * it cannot): `root/memory/<path>` on v1, `root/<path>` on v2.
 */
export function cgroupWorkingSet(
  cgroup: InstanceCgroupPath,
  read: (path: string) => string,
  root = '/sys/fs/cgroup',
): number {
  const dir = cgroup.version === 'v1' ? join(root, 'memory', cgroup.path) : join(root, cgroup.path);
  const usageFile = cgroup.version === 'v1' ? 'memory.usage_in_bytes' : 'memory.current';
  const usage = Number(read(join(dir, usageFile)).trim());
  if (!Number.isFinite(usage)) throw new Error(`${join(dir, usageFile)}: not a number`);
  const stat = parseMemoryStat(read(join(dir, 'memory.stat')));
  return workingSetBytes(usage, stat.get(cgroup.version === 'v1' ? 'total_inactive_file' : 'inactive_file'));
}

/**
 * groupRss sums the resident set size of every process in each of `pgids` (an instance's `sh`, its
 * app and whatever they spawned). `rssOf` returns a pid's RSS in bytes, or undefined when it has
 * none or is gone. Pages shared between the members (a forked worker's untouched heap) count once
 * per member, as `ps` would show them. A group with no process left has no entry.
 */
export function groupRss(
  stats: readonly ProcStat[],
  pgids: readonly number[],
  rssOf: (pid: number) => number | undefined,
): Map<number, number> {
  const wanted = new Set(pgids);
  const rss = new Map<number, number>();
  for (const s of stats) {
    if (!wanted.has(s.pgrp)) continue;
    rss.set(s.pgrp, (rss.get(s.pgrp) ?? 0) + (rssOf(s.pid) ?? 0));
  }
  return rss;
}

/** MemorySamplerOptions configures a MemorySampler. */
export interface MemorySamplerOptions {
  /** @defaultValue '/proc' */
  procRoot?: string;
  /** Mount of the cgroup hierarchies. @defaultValue '/sys/fs/cgroup' */
  cgroupRoot?: string;
}

/**
 * MemorySampler measures the memory of whole process groups: the working set of the instance's
 * own cgroup when it runs in one (a group with `resources`), else the summed RSS of its processes.
 */
export class MemorySampler {
  readonly #procRoot: string;
  readonly #cgroupRoot: string;

  constructor(options: MemorySamplerOptions = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  }

  /** sample returns one reading per process group that still has a process; the others have none. */
  sample(pgids: readonly number[]): Map<number, MemoryReading> {
    const read = (path: string) => readFileSync(path, 'utf8');
    const result = new Map<number, MemoryReading>();
    const byRss: number[] = [];
    for (const pgid of pgids) {
      try {
        const cgroup = instanceCgroupPath(read(`${this.#procRoot}/${pgid}/cgroup`));
        if (cgroup) {
          result.set(pgid, { bytes: cgroupWorkingSet(cgroup, read, this.#cgroupRoot), source: 'cgroup' });
          continue;
        }
      } catch {
        // The leader is gone or the cgroup unreadable: what is left of the group is still in /proc.
      }
      byRss.push(pgid);
    }
    if (byRss.length === 0) return result;
    const rssOf = (pid: number) => {
      try {
        return parseVmRss(read(`${this.#procRoot}/${pid}/status`));
      } catch {
        return undefined; // exited while we read
      }
    };
    for (const [pgid, bytes] of groupRss(readProcTable(this.#procRoot), byRss, rssOf)) {
      result.set(pgid, { bytes, source: 'rss' });
    }
    return result;
  }
}

/**
 * parseRssAnon reads `RssAnon` of a `/proc/<pid>/status` text, in bytes: the process's resident
 * anonymous memory (heap, stacks), which a cgroup always charges to the process that allocated it,
 * unlike file pages (the `node` binary's), which may be charged to whichever cgroup read them first.
 * Undefined when absent (kernel threads, zombies, kernels before 4.5).
 */
export function parseRssAnon(status: string): number | undefined {
  const match = /^RssAnon:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * parsePssAnon reads `Pss_Anon` of a `/proc/<pid>/smaps_rollup` text, in bytes: its anonymous
 * memory with each page shared with other processes (a fork's copy-on-write pages) divided among
 * them, so that a sum over processes counts such a page once, as their cgroup is charged for it.
 * Undefined when absent (kernels before 5.9 have no such line).
 */
export function parsePssAnon(smapsRollup: string): number | undefined {
  const match = /^Pss_Anon:\s+(\d+)\s+kB$/m.exec(smapsRollup);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** InstanceUsage is what one serving instance holds now, for memoryLimitRefusal. */
export interface InstanceUsage {
  id: string;
  /** Resident anonymous memory of its whole process group, in bytes. */
  bytes: number;
}

/**
 * memoryLimitRefusal says why a memory limit of `limit` bytes would OOM-kill the group's
 * replacements, undefined when it would not (or when nothing was measured): when EVERY serving
 * instance holds more anonymous memory than the limit (see groupAnonBytes), a replacement that gets as far is killed at
 * it; as VPA never recommends below what it saw used. The least of them decides: one instance
 * above the limit (a leak, a busier one) is what a limit is for, and it restarts alone. Before, such
 * a resize was accepted: replacements that start small became ready and the roll went on, and
 * once they grew under traffic every instance was killed in turn (a crash loop of the whole group,
 * the roll long finished). The message starts with the field, as the API's other 400s.
 */
export function memoryLimitRefusal(
  group: string,
  limit: number,
  usages: readonly InstanceUsage[],
): string | undefined {
  if (usages.length === 0) return undefined;
  const least = usages.reduce((a, b) => (b.bytes < a.bytes ? b : a));
  if (least.bytes <= limit) return undefined;
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const all =
    usages.length === 1 ? `${least.id}, the only instance of ${group},` : `every instance of ${group}`;
  return (
    `memory: ${mib(limit)} MiB is below what ${all} holds now (the least, ${least.id}: ${mib(least.bytes)} MiB ` +
    `of anonymous memory): a replacement is OOM-killed at the limit once it holds as much, and after the roll ` +
    `every instance in turn; give at least ${Math.ceil(least.bytes / 2 ** 20)}Mi, or lower what the app keeps first`
  );
}

/**
 * groupAnonBytes sums the anonymous memory of every process of each process group in `pgids`:
 * `Pss_Anon` of its smaps_rollup, else `RssAnon` of its status (`read` returns a /proc file's text,
 * undefined for a process gone meanwhile). Summed `RssAnon` counts a page shared after a fork once
 * per process: a pre-forking server (3 workers sharing 40 MiB, beside an app of ~10 MiB) read
 * 148 MiB, and a 96 MiB limit was refused; by Pss_Anon 56 MiB. A group with no process left has no
 * entry.
 */
export function groupAnonBytes(
  stats: readonly ProcStat[],
  pgids: readonly number[],
  read: (pid: number, file: 'smaps_rollup' | 'status') => string | undefined,
): Map<number, number> {
  return groupRss(stats, pgids, (pid) => {
    const rollup = read(pid, 'smaps_rollup');
    const pss = rollup === undefined ? undefined : parsePssAnon(rollup);
    if (pss !== undefined) return pss;
    const status = read(pid, 'status');
    return status === undefined ? undefined : parseRssAnon(status);
  });
}
