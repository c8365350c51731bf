// cgroup v2's "no internal processes" rule: a cgroup that holds a process cannot enable controllers
// for its children. Scaleplane run under systemd's Delegate=yes (or in a container with its own
// cgroup namespace) sits in exactly such a cgroup. This machine's v2 mount (/sys/fs/cgroup/unified,
// beside v1's cpu and memory) has only `hugetlb`, so the rule is exercised with that controller; the
// kernel applies it to cpu and memory alike.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  detectCgroups,
  enableSubtreeControllers,
  SUPERVISOR_CGROUP,
} from '../../src/providers/local/cgroups.js';

const UNIFIED = '/sys/fs/cgroup/unified';

function v2Controllers(): string[] {
  try {
    return readFileSync(join(UNIFIED, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}

const skip =
  process.getuid?.() !== 0 || !v2Controllers().includes('hugetlb')
    ? `needs root and a cgroup v2 mount at ${UNIFIED} with the hugetlb controller`
    : false;

describe('enabling v2 controllers from a cgroup Scaleplane runs in', { skip }, () => {
  it("moves the cgroup's processes to a leaf, then enables the controllers", async (t) => {
    const rootControl = join(UNIFIED, 'cgroup.subtree_control');
    const delegated = join(UNIFIED, `sp-delegated-${process.pid}`);
    const supervisor = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = once(supervisor, 'exit');
    let turnedOn = false;
    // One hook, in order: the process out, then the cgroups (a cgroup with a process or a child
    // cannot go), then the root's controller (one in use by a child cannot be turned off).
    t.after(async () => {
      supervisor.kill('SIGKILL');
      await exited;
      for (const dir of [join(delegated, 'child'), join(delegated, SUPERVISOR_CGROUP), delegated])
        if (existsSync(dir)) rmdirSync(dir);
      if (turnedOn) writeFileSync(rootControl, '-hugetlb');
    });
    await once(supervisor, 'spawn');
    // The root must pass hugetlb down for a child to: turned on for this test only, if it was off.
    if (!readFileSync(rootControl, 'utf8').includes('hugetlb')) {
      writeFileSync(rootControl, '+hugetlb');
      turnedOn = true;
    }
    mkdirSync(delegated);
    // The supervisor stands for Scaleplane itself: a process in the delegated cgroup.
    writeFileSync(join(delegated, 'cgroup.procs'), String(supervisor.pid));

    enableSubtreeControllers(delegated, ['hugetlb']);

    assert.match(
      readFileSync(join(delegated, 'cgroup.subtree_control'), 'utf8'),
      /hugetlb/,
      'enabled for children',
    );
    assert.equal(
      readFileSync(join(delegated, 'cgroup.procs'), 'utf8').trim(),
      '',
      'no process left in the cgroup',
    );
    const own = readFileSync(`/proc/${supervisor.pid}/cgroup`, 'utf8');
    assert.match(own, new RegExp(`^0::/sp-delegated-${process.pid}/${SUPERVISOR_CGROUP}$`, 'm'), own);
    // A child cgroup made afterwards gets the controller, as an instance's would.
    const child = join(delegated, 'child');
    mkdirSync(child);
    assert.ok(existsSync(join(child, 'hugetlb.2MB.max')), 'the child has the hugetlb files');
  });
});

describe('detectCgroups after the move', () => {
  it('takes the cgroup Scaleplane moved itself out of, not the leaf, as its root', () => {
    const fs = {
      exists: (path: string) => path === '/sys/fs/cgroup/cgroup.controllers',
      read: () => 'cpuset cpu io memory pids',
    };
    const self = `0::/system.slice/app.service/${SUPERVISOR_CGROUP}\n`;
    assert.deepEqual(detectCgroups('/sys/fs/cgroup', fs, self), {
      version: 'v2',
      root: '/sys/fs/cgroup/system.slice/app.service',
    });
    assert.deepEqual(detectCgroups('/sys/fs/cgroup', fs, '0::/system.slice/app.service\n'), {
      version: 'v2',
      root: '/sys/fs/cgroup/system.slice/app.service',
    });
  });
});
