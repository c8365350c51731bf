// A test file past its timeout takes what it started with it. The runner (`--test-timeout`) ends
// such a file with SIGTERM, and no `finally` of its tests runs: before, a `scaleplane up` it had
// started (test/chaos/up-child.ts, test/helpers/cli-process.ts) kept running, and so did that one's
// instances, which outlive their controller on purpose with a state store. Now every process those
// helpers spawn is marked (test/helpers/process-tree.ts) and killed when the test process ends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { processGroupMembers, ROOT } from '../helpers/cli-process.js';
import { KnownGroups, KnownProcesses } from '../helpers/kill-groups.js';
import { spawnInTree } from '../helpers/process-tree.js';
import { until } from '../helpers/until.js';

/** running lists which of `pids` still run, or still lead a process group with a member running. */
function running(pids: readonly number[]): number[] {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return pids.filter((pid) => (alive(pid) && !isZombie(pid)) || processGroupMembers([pid]).length > 0);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('the test harness kills its process tree', () => {
  it('a test process ended as the runner ends one past its timeout leaves no `up` and no instance', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'process-tree-'));
    const fixture = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/tree-up.ts', dir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let pids: number[] = [];
    // Recorded when learnt: the test has them killed, and by its cleanup their pids may be another's.
    const processes = new KnownProcesses();
    const groups = new KnownGroups();
    t.after(async () => {
      // Whatever this test leaves, it does not leave it running.
      fixture.kill('SIGKILL');
      processes.killAll('SIGKILL');
      groups.killAll('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });
    const exited = new Promise<number | null>((resolve) => fixture.once('exit', (code) => resolve(code)));
    const tree = await new Promise<{ up: number; instances: number[] }>((resolve, reject) => {
      createInterface({ input: fixture.stdout }).on('line', (line) => {
        if (line.startsWith('tree ')) resolve(JSON.parse(line.slice(5)));
      });
      void exited.then((code) => reject(new Error(`the fixture exited (${code}) before its group was up`)));
    });
    pids = [tree.up, ...tree.instances];
    for (const pid of pids) groups.add(processes.add(pid));
    assert.equal(tree.instances.length, 1, `instances: ${JSON.stringify(tree)}`);
    assert.deepEqual(
      running(pids),
      pids,
      `not all running before the test process ended: ${JSON.stringify(tree)}`,
    );
    // What the runner does to a file past its timeout.
    fixture.kill('SIGTERM');
    await exited;
    // SIGKILL is immediate; the bound (polled) only keeps a failure from hanging.
    let left = running(pids);
    for (let waited = 0; left.length > 0 && waited < 10_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = running(pids);
    }
    assert.deepEqual(
      left,
      [],
      `still running after the test process ended: ${left.join(', ')} (up ${tree.up}, instances ${tree.instances.join(', ')})`,
    );
  });
});

describe('processGroupMembers in the test tree', () => {
  it("counts a group this test started, not a stranger's group that has the id", async (t) => {
    // A stranger: a group leader started outside the tree, as a pid learnt earlier may be by now.
    const stranger = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const ours = spawnInTree('sleep', ['60'], { detached: true, stdio: 'ignore' });
    t.after(() => {
      stranger.kill('SIGKILL');
      ours.kill('SIGKILL');
    });
    await Promise.all(
      [stranger, ours].map((child) => new Promise((resolve) => child.once('spawn', resolve))),
    );
    // detached: setsid() runs in the child after the spawn event; wait until each leads its group.
    await until(
      () => [stranger, ours].every((child) => processGroupMembers([child.pid!]).includes(child.pid!)),
      5_000,
      'both sleeps lead their own groups',
    );
    assert.deepEqual(
      processGroupMembers([stranger.pid!], { inTestTree: true }),
      [],
      'the stranger is not counted',
    );
    assert.deepEqual(processGroupMembers([ours.pid!], { inTestTree: true }), [ours.pid], 'ours is counted');
  });
});
