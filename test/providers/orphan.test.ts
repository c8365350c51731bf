import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { alive, groupMembers, waitGone } from './local-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/provider-orphan.ts', import.meta.url));

/** startScaleplane runs the orphan fixture and returns its child and what it printed once ready. */
async function startScaleplane(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
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
  const { pids, reaper } = JSON.parse(first) as { pids: number[]; reaper: number };
  return { child, pids, reaper };
}

const cases: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'reaper and setpriv', env: {} },
  // The reaper alone, against apps that ignore SIGTERM: it must escalate to SIGKILL.
  { name: 'reaper alone, SIGTERM ignored', env: { ORPHAN_PDEATHSIG: '0', ORPHAN_IGNORE_SIGTERM: '1' } },
];

for (const { name, env } of cases) {
  test(`no orphans when Scaleplane is SIGKILLed (${name})`, async (t) => {
    const { child, pids, reaper } = await startScaleplane(env);
    const members = groupMembers(pids);
    t.after(() => {
      // Belt and braces: never leave processes behind if the assertion fails.
      for (const pid of members) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    assert.equal(pids.length, 2);
    assert.ok(members.length >= 4, `sh and app per instance, got ${members.length}`);
    assert.ok(alive(reaper), 'alive(reaper)');

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    assert.deepEqual(await waitGone(members), []);
    assert.deepEqual(await waitGone([reaper]), [], 'the reaper exits when its work is done');
  });
}
