// An instance's cgroups are removed after its stop, tried again every 50 ms for up to 5 s while
// busy (removeCgroupDirsOnceEmpty). The retries were timed on Date.now: a step back of the system
// clock (NTP, a VM resumed, `date -s`) kept a cgroup that stays busy tried for as long as the step.
// Date.now is replaced here; performance.now is left alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { detectCgroups } from '../../src/providers/index.js';
import { createTrackingCgroup, removeCgroupDirsOnceEmpty } from '../../src/providers/local/cgroups.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('cgroup removal after a step of the system clock', { skip }, () => {
  it('back 1 h: a cgroup that stays busy is given up after retryMs', async (t) => {
    const cgroup = createTrackingCgroup(layout!, `clock-step-${process.pid}`, 'busy');
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const real = Date.now;
    t.after(async () => {
      Date.now = real;
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      // The instance's cgroup, then its group's.
      for (const dir of [...cgroup.dirs, ...cgroup.dirs.map((d) => dirname(d))]) {
        try {
          rmdirSync(dir);
        } catch {}
      }
    });
    // Busy: a live process in it.
    writeFileSync(cgroup.procsFiles[0]!, String(child.pid));
    const removing = removeCgroupDirsOnceEmpty(cgroup.dirs, 300);
    Date.now = () => real() - 3_600_000;
    const outcome = await Promise.race([removing, delay(5_000).then(() => 'still retrying after 5 s')]);
    Date.now = real;
    assert.deepEqual(outcome, cgroup.dirs, 'given up after 300 ms, the busy cgroup left');
  });
});
