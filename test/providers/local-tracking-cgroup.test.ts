// An instance without a size (no `resources`) gets a cgroup that limits nothing, only to find its
// processes: stopped by process group alone, a helper that left the group with setsid() outlived
// the stop and Scaleplane itself.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { readProcTable } from '../../src/providers/local/cpu.js';
import { killProcess, recordPid } from '../helpers/kill-groups.js';
import { APP, alive, httpGet, makeProvider, recordingLogger } from './local-helpers.js';

const layout = detectCgroups();
const tracked = layout && (layout.version === 'v2' || layout.pidsRoot !== undefined);
const skip =
  !tracked || process.getuid?.() !== 0 ? 'needs a cgroup v1 pids hierarchy or v2, writable by root' : false;

/** trackingDirOf is the scaleplane cgroup `pid` is in (v1 pids line, else the v2 line), or ''. */
function trackingDirOf(pid: number): string {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match?.[1] === 'pids') return `/sys/fs/cgroup/pids${match[2]}`;
    if (match?.[1] === '' && layout?.version === 'v2') return `/sys/fs/cgroup${match[2]}`;
  }
  return '';
}

describe('local provider: an instance without a size', () => {
  it('is stopped with a helper that left its process group with setsid, and its cgroup removed', {
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
    const command = `setsid sh -c 'echo escaped $$; exec sleep 3011' & exec "${process.execPath}" "${APP}"`;
    const provider = makeProvider(t, { command }, { logger });
    await provider.scaleTo(1);
    const pid = await escapedPid;
    // Recorded now: the test has it stopped, and by its cleanup its pid may be another's.
    const own = recordPid(pid);
    t.after(() => {
      killProcess(own, 'SIGKILL');
    });
    const instance = provider.instances()[0]!;
    assert.equal(instance.size, undefined, 'the instance has no size');
    const helper = readProcTable().find((s) => s.pid === pid);
    assert.ok(helper && helper.pgrp !== instance.pid, `helper ${pid} left group ${instance.pid}`);
    const dir = trackingDirOf(instance.pid!);
    await provider.scaleTo(0);
    assert.equal(alive(pid), false, `helper ${pid} (setsid, unsized instance) alive after the stop`);
    assert.match(dir, /\/scaleplane\/web\/web-1-/, `instance ${instance.pid} was in no cgroup of its own`);
    assert.equal(existsSync(dir), false, `cgroup ${dir} left behind`);
  });

  it('runs without a cgroup where none can be made, saying so once', async (t) => {
    const logger = recordingLogger();
    // A hierarchy that cannot be written (as for a user without delegation): mkdir fails (ENOTDIR).
    const provider = makeProvider(
      t,
      {},
      { logger, cgroups: { version: 'v2', root: '/dev/null/no-cgroups-here' } },
    );
    await provider.scaleTo(2);
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 2, `ready: ${ready.length} of 2 without a cgroup`);
    const answer = await httpGet(ready[0]!.address, '/');
    assert.equal(answer.status, 200, `instance answered ${answer.status}`);
    const notes = logger.lines.filter((l) => l.msg.includes('without a cgroup of their own'));
    assert.equal(notes.length, 1, `said ${notes.length} times, not once`);
  });
});
