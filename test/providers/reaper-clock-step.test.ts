// The reaper kills what a dead Scaleplane left: SIGTERM, then SIGKILL after the grace. The grace was
// timed on Date.now: a step back of the system clock (NTP, a VM resumed, `date -s`) during it held
// the SIGKILL (and the reaper's exit) off for as long as the step, and an instance ignoring SIGTERM
// went on running. The reaper runs here with a preload that steps its Date.now back 1 h just after
// its parent's end (stdin closed); performance.now is left alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { REAPER_SOURCE } from '../../src/providers/local/reaper.js';
import { killGroup, recordPid } from '../helpers/kill-groups.js';

const STEP_AFTER_END = `data:text/javascript,${encodeURIComponent(
  "const real = Date.now; process.stdin.on('end', () => setTimeout(() => { Date.now = () => real() - 3600000; }, 0));",
)}`;

test('a step back of the clock during the grace does not hold off the SIGKILL', async (t) => {
  // An instance that ignores SIGTERM, leading its own process group.
  const victim = spawn(
    process.execPath,
    ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('armed')"],
    { detached: true, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  // Recorded at once: once the reaper killed it and this process reaped it, its pid may be reused
  // before the cleanup, which then must leave that one alone.
  const group = recordPid(victim.pid!);
  t.after(() => {
    const outcome = killGroup(group, 'SIGKILL');
    if (outcome.reason === 'pid-reused') t.diagnostic(outcome.message);
  });
  await once(victim.stdout!, 'data'); // its SIGTERM handler is in place
  const reaper = spawn(process.execPath, ['--import', STEP_AFTER_END, '-e', REAPER_SOURCE], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  t.after(() => reaper.kill('SIGKILL'));
  reaper.stdin!.write(`+${victim.pid} 100\n`);
  const gone = once(victim, 'exit');
  reaper.stdin!.end(); // the parent died
  const outcome = await Promise.race([
    gone.then(([code, signal]) => `exited (${code}, ${signal})`),
    new Promise((resolve) => setTimeout(resolve, 5_000, 'still running after 5 s')),
  ]);
  assert.equal(outcome, 'exited (null, SIGKILL)', 'killed once its 100-ms grace was over');
});
