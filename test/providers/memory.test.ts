// Memory of local instances: the pure parsing and arithmetic (tables), then real processes that
// allocate memory on request, read through /proc (RSS) and, where cgroups are usable, through the
// instance's own cgroup (working set).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ProcStat } from '../../src/providers/index.js';
import { detectCgroups, MemorySampler } from '../../src/providers/index.js';
import {
  cgroupWorkingSet,
  groupRss,
  instanceCgroupPath,
  parseMemoryStat,
  parseVmRss,
  workingSetBytes,
} from '../../src/providers/local/memory.js';
import { makeProvider } from './local-helpers.js';

const MIB = 1024 * 1024;
const MEMORY_APP = fileURLToPath(new URL('../fixtures/memory-app.mjs', import.meta.url));

describe('memory parsing', () => {
  it('parseVmRss reads kB as KiB, and nothing for a process without VmRSS', () => {
    const cases: Array<[status: string, want: number | undefined]> = [
      ['Name:\tnode\nVmHWM:\t  60000 kB\nVmRSS:\t   51234 kB\nRssAnon:\t 40000 kB\n', 51234 * 1024],
      ['VmRSS:\t0 kB\n', 0],
      ['Name:\tkthreadd\nState:\tS (sleeping)\n', undefined],
      ['Name:\tzombie\nState:\tZ (zombie)\nVmRSS:\n', undefined],
    ];
    for (const [status, want] of cases) assert.equal(parseVmRss(status), want, status);
  });

  it('parseMemoryStat keeps key-integer lines', () => {
    const stat = parseMemoryStat('cache 100\nrss 200\ntotal_inactive_file 4096\nbogus\nhierarchical x\n');
    assert.deepEqual(
      [...stat],
      [
        ['cache', 100],
        ['rss', 200],
        ['total_inactive_file', 4096],
      ],
    );
  });

  it('workingSetBytes is usage less inactive file cache, never below 0 (cAdvisor)', () => {
    const cases: Array<[usage: number, inactive: number | undefined, want: number]> = [
      [1000, 300, 700],
      [1000, 0, 1000],
      [1000, undefined, 1000],
      [1000, 1000, 0],
      [1000, 1001, 0],
    ];
    for (const [usage, inactive, want] of cases)
      assert.equal(workingSetBytes(usage, inactive), want, `${usage} - ${inactive}`);
  });

  it('instanceCgroupPath finds an instance cgroup and ignores shared ones', () => {
    const cases: Array<[name: string, text: string, want: ReturnType<typeof instanceCgroupPath>]> = [
      [
        'v1 instance cgroup',
        '4:memory:/process_api/x/scaleplane/web/web-1-a1b2c3\n1:cpu:/process_api/x/scaleplane/web/web-1-a1b2c3\n0::/\n',
        { version: 'v1', path: '/process_api/x/scaleplane/web/web-1-a1b2c3' },
      ],
      ['v1 shared cgroup (no resources)', '4:memory:/process_api/x\n0::/\n', undefined],
      [
        'v2 instance cgroup',
        '0::/user.slice/scaleplane/api/api-2-ffffff\n',
        { version: 'v2', path: '/user.slice/scaleplane/api/api-2-ffffff' },
      ],
      [
        'v2 at the root',
        '0::/scaleplane/web/web-1-000000\n',
        { version: 'v2', path: '/scaleplane/web/web-1-000000' },
      ],
      ['v2 shared', '0::/user.slice/session-1.scope\n', undefined],
      ['the group folder itself is no instance', '0::/scaleplane/web\n', undefined],
      ['a deeper folder is no instance', '0::/scaleplane/web/web-1-000000/child\n', undefined],
    ];
    for (const [name, text, want] of cases) assert.deepEqual(instanceCgroupPath(text), want, name);
  });

  it('cgroupWorkingSet reads the files of its version', () => {
    const files: Record<string, string> = {
      '/cg/memory/i/memory.usage_in_bytes': '10000\n',
      '/cg/memory/i/memory.stat': 'inactive_file 1\ntotal_inactive_file 2500\n',
      '/cg/i/memory.current': '8000\n',
      '/cg/i/memory.stat': 'anon 5000\ninactive_file 3000\n',
    };
    const read = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT ${path}`);
      return text;
    };
    assert.equal(cgroupWorkingSet({ version: 'v1', path: '/i' }, read, '/cg'), 7500);
    assert.equal(cgroupWorkingSet({ version: 'v2', path: '/i' }, read, '/cg'), 5000);
    assert.throws(() => cgroupWorkingSet({ version: 'v2', path: '/gone' }, read, '/cg'), /ENOENT/);
  });

  it('groupRss sums every member of each process group', () => {
    const stat = (pid: number, pgrp: number): ProcStat => ({
      pid,
      comm: 'x',
      state: 'S',
      ppid: 1,
      pgrp,
      utime: 0,
      stime: 0,
      cutime: 0,
      cstime: 0,
    });
    const rss: Record<number, number | undefined> = { 10: 100, 11: 200, 12: undefined, 20: 50, 30: 7 };
    const got = groupRss(
      [stat(10, 10), stat(11, 10), stat(12, 10), stat(20, 20), stat(30, 30)],
      [10, 20, 99],
      (p) => rss[p],
    );
    assert.deepEqual([...got].sort(), [
      [10, 300],
      [20, 50],
    ]);
  });
});

async function allocate(address: string, mib: number): Promise<void> {
  const res = await fetch(`http://${address}/alloc?mib=${mib}`);
  assert.equal(res.status, 200);
  await res.text();
}

/** grows runs an instance of the memory app, allocates `mib` and returns the sampler's two readings. */
async function grows(
  t: TestContext,
  mib: number,
  options: Parameters<typeof makeProvider>[2] = {},
  command = `"${process.execPath}" "${MEMORY_APP}"`,
): Promise<{
  before: { bytes: number; source: string };
  after: { bytes: number; source: string };
  pid: number;
}> {
  const provider = makeProvider(t, { command }, options);
  await provider.scaleTo(1);
  const [instance] = provider.instances();
  assert.ok(
    instance?.pid !== undefined && instance.state === 'ready',
    "instance?.pid !== undefined && instance.state === 'ready'",
  );
  const sampler = new MemorySampler();
  const before = sampler.sample([instance.pid]).get(instance.pid);
  assert.ok(before, 'a reading before');
  await allocate(instance.address, mib);
  const after = sampler.sample([instance.pid]).get(instance.pid);
  assert.ok(after, 'a reading after');
  t.diagnostic(
    `${before.source}: ${(before.bytes / MIB).toFixed(1)} MiB → ${(after.bytes / MIB).toFixed(1)} MiB after allocating ${mib} MiB`,
  );
  return { before, after, pid: instance.pid };
}

describe('MemorySampler on real processes', () => {
  it('without a cgroup, reads the RSS of the whole process group, which grows with what the app holds', async (t) => {
    // A list keeps its shell (a lone command is exec'd, see execForm), so the group's leader is
    // `sh` and the app its child: the reading must be the group's, not the leader's.
    const { before, after, pid } = await grows(t, 200, {}, `true && "${process.execPath}" "${MEMORY_APP}"`);
    assert.equal(before.source, 'rss');
    assert.equal(after.source, 'rss');
    const grew = after.bytes - before.bytes;
    assert.ok(grew >= 0.8 * 200 * MIB, `grew by ${grew / MIB} MiB`);
    assert.ok(grew <= 1.5 * 200 * MIB, `grew by ${grew / MIB} MiB`);
    // The leader is `sh`; the app is its child in the same group: the sum holds at least the app.
    const own = parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8')) ?? 0;
    assert.ok(after.bytes > own + 150 * MIB, `group ${after.bytes}, leader alone ${own}`);
  });

  it('has no reading for a process group that is gone', () => {
    assert.equal(new MemorySampler().sample([2 ** 22 + 1]).size, 0);
  });

  const layout = detectCgroups();
  const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
  it('with a memory limit, reads the working set of the instance cgroup', { skip }, async (t) => {
    const { before, after, pid } = await grows(t, 200, { size: { memory: 512 * MIB } });
    assert.equal(before.source, 'cgroup');
    assert.equal(after.source, 'cgroup');
    const grew = after.bytes - before.bytes;
    assert.ok(grew >= 0.8 * 200 * MIB, `grew by ${grew / MIB} MiB`);
    assert.ok(after.bytes <= 512 * MIB, `working set ${after.bytes} within the limit`);
    // The same figure straight from the cgroup files the instance is in (usage ≥ working set).
    const cgroup = instanceCgroupPath(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    assert.ok(cgroup, 'the instance runs in a cgroup of its own');
    const dir =
      cgroup.version === 'v1' ? `/sys/fs/cgroup/memory${cgroup.path}` : `/sys/fs/cgroup${cgroup.path}`;
    const usage = Number(
      readFileSync(`${dir}/${cgroup.version === 'v1' ? 'memory.usage_in_bytes' : 'memory.current'}`, 'utf8'),
    );
    assert.ok(usage >= after.bytes - 16 * MIB, `usage ${usage}, working set ${after.bytes}`);
  });
});
