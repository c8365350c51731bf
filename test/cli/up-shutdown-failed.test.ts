import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { processGroupMembers, ROOT, waitUntilGone } from '../helpers/cli-process.js';
import { runnable } from '../helpers/runnable.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';

/**
 * FREEZER is the cgroup v1 freezer. A process it froze is in uninterruptible sleep: SIGKILL stays
 * pending until it is thawed, so the instance really outlives its stop, as one stuck in the kernel
 * (a hung NFS read, a failing disk) would.
 */
const FREEZER = '/sys/fs/cgroup/freezer';

/**
 * removeWhenReaped removes a cgroup v1 directory once its last process was reaped. The instance
 * outlived `scaleplane up`, so it dies a zombie of PID 1, and a zombie keeps its cgroup populated
 * (rmdir: EBUSY) until reaped; this machine's PID 1 reaps lazily (a CI run beside other files
 * failed here with EBUSY right after the instance ended, and the rmdir succeeded seconds later).
 */
async function removeWhenReaped(cgroup: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await rmdir(cgroup);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('scaleplane up: a shutdown that failed', () => {
  it('exits 1 naming the instance that would not stop (it logged "stopped", as if all had)', async (t) => {
    if (!existsSync(`${FREEZER}/cgroup.procs`)) {
      t.skip('no cgroup v1 freezer on this machine');
      return;
    }
    const config = await writeTempConfig(
      [
        'api: { listen: 127.0.0.1:0 }',
        'balancer: { listen: 127.0.0.1:0 }',
        'groups:',
        `  web: { command: node server.js, cwd: ${DEMO_DIR}, stop_timeout: 1s }`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [...runnable('src/cli/main.ts'), 'up', '-c', config], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    let pgid: number | undefined;
    // Before the fix it logged "stopped" and then never exited (the frozen child held it open).
    let reportStopped: () => void = () => {};
    const loggedStopped = new Promise<'stopped'>((resolve) => {
      reportStopped = () => resolve('stopped');
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (text) => {
        const line = JSON.parse(text) as { msg?: string; pid?: number };
        if (line.msg?.startsWith('starting web-')) pgid = line.pid;
        if (line.msg === 'group web is up') resolve();
        if (line.msg === 'stopped') reportStopped();
      });
      void exited.then((code) =>
        reject(new Error(`scaleplane up exited (${code}) before web was up: ${stderr}`)),
      );
    });
    assert.ok(pgid !== undefined, 'no "starting web-1" log line with the pid');

    const cgroup = `${FREEZER}/scaleplane-test-${process.pid}-${pgid}`;
    await mkdir(cgroup);
    t.after(async () => {
      await writeFile(`${cgroup}/freezer.state`, 'THAWED');
      assert.deepEqual(await waitUntilGone([pgid!], 10_000), [], 'the thawed instance did not end');
      await removeWhenReaped(cgroup);
    });
    for (const pid of processGroupMembers([pgid])) await writeFile(`${cgroup}/cgroup.procs`, String(pid));
    await writeFile(`${cgroup}/freezer.state`, 'FROZEN');

    child.kill('SIGTERM');
    const code = await Promise.race([exited, loggedStopped]);
    assert.equal(code, 1, `exit code after a stop that left web-1 running; stderr: ${stderr}`);
    assert.match(
      stderr,
      new RegExp(
        `^scaleplane: shutdown failed: group web: web-1: cannot stop its process group \\(process group ${pgid} survived SIGKILL for \\d+ ms\\)\\n$`,
      ),
      'stderr should be one line naming the group, the instance and why',
    );
  });
  it('a state store write failing while every instance stopped is logged, not a failed shutdown: exit 0', async (t) => {
    const config = await writeTempConfig(
      [
        'api: { listen: 127.0.0.1:0 }',
        'balancer: { listen: 127.0.0.1:0 }',
        'controller: { state: { backend: file } }',
        'groups:',
        `  web: { command: node server.js, cwd: ${DEMO_DIR} }`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [...runnable('src/cli/main.ts'), 'up', '-c', config], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // 'close': after the last log line was read, not only the exit.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    let storeErrors = 0;
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (text) => {
        const line = JSON.parse(text) as { msg?: string; err?: { message?: string } };
        if (line.msg === 'group web is up') resolve();
        if (line.msg === 'provider error' && line.err?.message?.includes('.scaleplane-state.json'))
          storeErrors++;
      });
      void exited.then((code) =>
        reject(new Error(`scaleplane up exited (${code}) before web was up: ${stderr}`)),
      );
    });
    // The state file's folder goes: the stop's registry writes fail (ENOENT), the instance stops.
    await rm(dirname(config), { recursive: true, force: true });
    child.kill('SIGTERM');
    const code = await exited;
    assert.ok(storeErrors > 0, 'no state store write failed: the case did not happen');
    assert.equal(code, 0, `exit code after a clean stop with failed store writes; stderr: ${stderr}`);
  });
});
