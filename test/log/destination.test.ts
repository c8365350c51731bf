// A full disk must not take Scaleplane down through its log: /dev/full fails every write with ENOSPC.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/cli-process.js';

/** runLogging runs a child that logs `lines` lines, then says so on stderr and exits by itself. */
function runLogging(
  factory: string,
  lines: number,
  limitMs: number,
): Promise<{ code: number | null; stderr: string; ms: number }> {
  const script = `
    import { createLogger } from './src/log/index.ts';
    import { pino } from 'pino';
    const logger = ${factory};
    for (let i = 0; i < ${lines}; i++) logger.info({ i }, 'a line that cannot be written');
    setTimeout(() => { process.stderr.write('still serving\\n'); }, 50);
  `;
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', openSync('/dev/full', 'w'), 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    // The old default hangs here forever: end it at the limit.
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: performance.now() - started });
    });
  });
}

describe('log destination on a full disk', () => {
  it('keeps the process running and lets it exit by itself; says so once on stderr', async () => {
    const r = await runLogging(`createLogger({ level: 'info', pretty: false })`, 200, 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /still serving/);
    assert.equal(r.stderr.match(/log write failed \(ENOSPC\)/g)?.length, 1, r.stderr);
  });

  it("pino's default destination is what this guards against (crashes, or hangs on exit)", async () => {
    const r = await runLogging(`pino({ base: undefined })`, 200, 5000);
    assert.ok(r.code !== 0 || !r.stderr.includes('still serving'), `${r.code} ${r.stderr}`);
  });
});

describe('log destination recovery', () => {
  it('measures how long writes failed on a monotonic clock: a step of the wall clock moves nothing', async (t) => {
    const { createLogDestination } = await import('../../src/log/destination.js');
    const recovered = new Promise<{ dropped: number; error: string; failedForMs: number }>((resolve) => {
      const destination = createLogDestination({ fd: openSync('/dev/null', 'w'), onRecovered: resolve });
      const error = Object.assign(new Error('no space left'), { code: 'ENOSPC' });
      destination.emit('error', error);
      // The operator's `date -s` while the disk is full: the wall clock steps back an hour.
      const wall = Date.now();
      t.mock.method(Date, 'now', () => wall - 3_600_000);
      destination.emit('write');
    });
    const info = await recovered;
    assert.equal(info.error, 'ENOSPC');
    assert.ok(info.failedForMs >= 0 && info.failedForMs < 60_000, `failedForMs ${info.failedForMs}`);
  });
});
