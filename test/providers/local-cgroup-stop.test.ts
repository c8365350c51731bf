// Stopping a sized instance (one with a cgroup) ends every process of its cgroup, not only those
// still in its process group: one that called setsid() outlived the stop before.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { readProcTable } from '../../src/providers/local/cpu.js';
import { killProcess, recordPid } from '../helpers/kill-groups.js';
import { APP, alive, makeProvider, memoryCgroupOf, recordingLogger } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('local provider: stopping a sized instance', () => {
  it('ends a process that left its process group with setsid, and removes its cgroup', {
    skip,
  }, async (t) => {
    let escaped!: (pid: number) => void;
    const escapedPid = new Promise<number>((resolve) => {
      escaped = resolve;
    });
    const logger = recordingLogger((line) => {
      const match = /^escaped (\d+)$/.exec(line.msg);
      if (match) escaped(Number(match[1]));
    });
    // A helper in a session of its own (as a daemon makes itself), then the app in the foreground.
    const command = `setsid sh -c 'echo escaped $$; exec sleep 3007' & exec "${process.execPath}" "${APP}"`;
    const provider = makeProvider(t, { command }, { logger, size: { memory: 128 * 1024 * 1024 } });
    await provider.scaleTo(1);
    const pid = await escapedPid;
    // Ours to clean up if the provider leaves it.
    // Recorded now: the test has it stopped, and by its cleanup its pid may be another's.
    const own = recordPid(pid);
    t.after(() => {
      killProcess(own, 'SIGKILL');
    });
    const leader = provider.instances()[0]!.pid!;
    const helper = readProcTable().find((s) => s.pid === pid);
    assert.ok(helper && helper.pgrp !== leader, `helper ${pid} left group ${leader}: pgrp ${helper?.pgrp}`);
    const dir = memoryCgroupOf(leader);
    assert.match(dir, /\/scaleplane\/web\/web-1-/);
    await provider.scaleTo(0);
    assert.equal(alive(pid), false, `helper ${pid} (setsid, in the instance's cgroup) alive after the stop`);
    assert.equal(existsSync(dir), false, `cgroup ${dir} left behind`);
  });
});
