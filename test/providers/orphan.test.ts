import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { detectCgroups } from '../../src/providers/index.js';
import { KnownProcesses } from '../helpers/kill-groups.js';
import { runnable } from '../helpers/runnable.js';
import { alive, groupMembers, memoryCgroupOf, waitGone } from './local-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/provider-orphan.ts', import.meta.url));

/** startScaleplane runs the orphan fixture and returns its child and what it printed once ready. */
async function startScaleplane(env: Record<string, string>) {
  const child = spawn(process.execPath, runnable(FIXTURE), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Its stdout pipe would hold this file open until the runner's timeout (its reaper then
      // stops what it started).
      child.kill('SIGKILL');
      reject(new Error('fixture not ready in 30 s'));
    }, 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fixture exited with ${code}`));
    });
  });
  const { pids, reaper, helpers } = JSON.parse(first) as {
    pids: number[];
    reaper: number;
    helpers: number[];
  };
  return { child, pids, reaper, helpers };
}

const layout = detectCgroups();
const noCgroups = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

const cases: Array<{ name: string; env: Record<string, string>; skip?: string | false }> = [
  { name: 'reaper and setpriv', env: {} },
  // The reaper alone, against apps that ignore SIGTERM: it must escalate to SIGKILL.
  { name: 'reaper alone, SIGTERM ignored', env: { ORPHAN_PDEATHSIG: '0', ORPHAN_IGNORE_SIGTERM: '1' } },
  // Sized instances with a helper that left their process group (setsid): the reaper ends their
  // cgroups' processes too. Before, the helpers ran on after Scaleplane's SIGKILL.
  { name: 'sized, a helper left the group with setsid', env: { ORPHAN_SETSID: '1' }, skip: noCgroups },
];

for (const { name, env, skip } of cases) {
  test(`no orphans when Scaleplane is SIGKILLed (${name})`, { skip: skip ?? false }, async (t) => {
    const { child, pids, reaper, helpers } = await startScaleplane(env);
    const members = [...groupMembers(pids), ...helpers];
    // The instances' cgroups (sized case): removed by the reaper once empty.
    const cgroups = helpers.length > 0 ? pids.map(memoryCgroupOf) : [];
    // Recorded now: the test has them killed, and by its cleanup their pids may be another's.
    const known = new KnownProcesses();
    for (const pid of members) known.add(pid);
    t.after(() => {
      // Belt and braces: never leave processes behind if the assertion fails.
      known.killAll('SIGKILL');
    });
    assert.equal(pids.length, 2);
    assert.ok(members.length >= 4, `sh and app per instance, got ${members.length}`);
    assert.ok(alive(reaper), 'alive(reaper)');

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const survivors = await waitGone(members);
    assert.deepEqual(
      survivors,
      [],
      `left running: ${survivors.join(', ')} (setsid helpers: ${helpers.join(', ') || 'none'})`,
    );
    assert.deepEqual(await waitGone([reaper]), [], 'the reaper exits when its work is done');
    assert.deepEqual(
      cgroups.filter((dir) => existsSync(dir)),
      [],
      'instance cgroups left behind',
    );
  });
}
