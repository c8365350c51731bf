// `scaleplane up` stopped (SIGTERM/SIGINT) while it is still starting: instances started, their
// health checks pending. The start is aborted: the controller stops what it started (each instance
// gets its SIGTERM, not the reaper's SIGKILL), says so, and exits 128 + the signal.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { UpProcess } from '../helpers/cli-process.js';
import { KnownProcesses } from '../helpers/kill-groups.js';
import { writeTempConfig } from '../helpers/scaleplane.js';

// An instance that records a SIGTERM (then exits), records its pid, and only listens after 60 s:
// it stays "starting" for as long as the test runs. The SIGTERM handler comes before the
// `.started` mark the test waits for: the other way round, an instance descheduled between the two
// lines (2 cores, another test file running) got the controller's SIGTERM with Node's default
// action, died without its `.term` mark and failed the test (1 of 4 CI runs; every run with a
// 300 ms stall put between the two lines).
const SLOW_SERVER = `
const { writeFileSync } = require('node:fs');
const dir = process.env.MARK_DIR;
process.on('SIGTERM', () => { writeFileSync(dir + '/' + process.pid + '.term', ''); if (!process.env.IGNORE_TERM) process.exit(0); });
writeFileSync(dir + '/' + process.pid + '.started', '');
setTimeout(() => require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1'), 60000);
`;

/** alive: the process exists and is not a zombie (one its exited parent left for init to reap). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function startSlow(
  t: TestContext,
  ignoreTerm = false,
): Promise<{ up: UpProcess; dir: string; pids: number[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'scaleplane-interrupt-'));
  await writeFile(join(dir, 'slow.cjs'), SLOW_SERVER);
  const config = await writeTempConfig(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
groups:
  web:
    command: node slow.cjs
    cwd: ${dir}
    env: { MARK_DIR: ${dir}${ignoreTerm ? ', IGNORE_TERM: "1"' : ''} }
    min_instances: 2
    max_instances: 2
`);
  const up = new UpProcess(config, { SCALEPLANE_API_KEY: 'interrupt-test-token' });
  t.after(async () => {
    if (up.child.exitCode !== null || up.child.signalCode !== null) return;
    up.child.kill('SIGKILL');
    await up.exited;
  });
  await up.waitFor((l) => String(l.msg).startsWith('control API on'), 20_000);
  // Both instances run (their script wrote its mark) and neither is ready: start is under way.
  const deadline = Date.now() + 20_000;
  let pids: number[] = [];
  while (pids.length < 2) {
    assert.ok(Date.now() < deadline, 'the two instances did not start within 20 s');
    await new Promise((r) => setTimeout(r, 100));
    pids = (await readdir(dir)).filter((f) => f.endsWith('.started')).map((f) => Number.parseInt(f, 10));
  }
  assert.ok(!up.lines.some((l) => String(l.msg).startsWith('group web is up')), 'still starting');
  return { up, dir, pids };
}

describe('scaleplane up interrupted while starting', () => {
  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal}: stops the starting instances itself (SIGTERM each), logs it and exits ${code}`, async (t) => {
      const { up, dir, pids } = await startSlow(t);
      up.child.kill(signal);
      const exit = await up.exited;
      assert.deepEqual(exit, { code, signal: null }, 'exited by itself with 128 + the signal');
      for (const pid of pids) {
        assert.ok(
          existsSync(join(dir, `${pid}.term`)),
          `instance ${pid} was stopped with SIGTERM by the controller`,
        );
        assert.equal(alive(pid), false, `instance ${pid} is gone when scaleplane exits`);
      }
      assert.ok(
        up.lines.some((l) => String(l.msg).startsWith(`start interrupted by ${signal}`)),
        'the interruption is logged',
      );
    });
  }

  it('a second signal while the interrupted start stops its instances forces the exit', async (t) => {
    // Instances that ignore SIGTERM: the stop waits for them (up to the stop timeout).
    const { up, dir, pids } = await startSlow(t, true);
    // Recorded now: the test ends them, and by its cleanup their pids may be another's.
    const instances = new KnownProcesses();
    for (const pid of pids) instances.add(pid);
    t.after(() => {
      instances.killAll('SIGKILL');
    });
    up.child.kill('SIGTERM');
    await up.waitFor((l) => String(l.msg).startsWith('SIGTERM while starting'), 10_000);
    // The stop is under way: each instance got its SIGTERM (and ignored it).
    const deadline = Date.now() + 10_000;
    while (!pids.every((pid) => existsSync(join(dir, `${pid}.term`)))) {
      assert.ok(Date.now() < deadline, 'the instances were not sent SIGTERM within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    up.child.kill('SIGTERM');
    const exit = await up.exited;
    assert.deepEqual(exit, { code: 143, signal: null });
    assert.ok(
      up.lines.some((l) => String(l.msg) === 'SIGTERM again: exiting now'),
      "up.lines.some((l) => String(l.msg) === 'SIGTERM again: exiting now')",
    );
  });
});
