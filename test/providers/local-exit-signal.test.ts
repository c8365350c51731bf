// An app killed by a signal is reported as killed by it: by its own exit when the shell execs it (one
// simple command), and when its leader is a shell (a list: `/bin/sh -c`, which runs the app as its
// child) that exits with 128 + the signal's number.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Instance } from '../../src/providers/index.js';
import { shellSignal } from '../../src/providers/local/start-failure.js';
import { makeProvider } from './local-helpers.js';

// A worker that kills itself with SIGUSR2 (default action: terminate) a moment after it started.
const SELF_KILL = `"${process.execPath}" -e "setTimeout(() => process.kill(process.pid, 'SIGUSR2'), 200)"`;
// The same behind a shell that stays its parent (a list is not exec'd).
const SELF_KILL_IN_SHELL = `true && ${SELF_KILL}`;

describe('local provider: an instance killed by a signal', () => {
  it('the app is the leader: its signal', async (t) => {
    const provider = makeProvider(t, { command: SELF_KILL, crashLoopLimit: 0 }, { healthPath: '' });
    const crashed = new Promise<{ signal: string | null; reason?: string | undefined }>((resolve) =>
      provider.once('crash', (_instance, detail) => resolve(detail)),
    );
    await provider.scaleTo(1);
    const detail = await crashed;
    assert.equal(detail.signal, 'SIGUSR2', JSON.stringify(detail));
    assert.match(detail.reason ?? '', /\(signal SIGUSR2/, detail.reason);
  });

  it('behind a shell: says which signal, not only exit code 140', async (t) => {
    const provider = makeProvider(t, { command: SELF_KILL_IN_SHELL, crashLoopLimit: 0 }, { healthPath: '' });
    const crashed = new Promise<[Instance, { code: number | null; reason?: string | undefined }]>((resolve) =>
      provider.once('crash', (instance, detail) => resolve([instance, detail])),
    );
    await provider.scaleTo(1);
    const [, detail] = await crashed;
    assert.equal(detail.code, 140);
    assert.match(
      detail.reason ?? '',
      /\(exit code 140: killed by SIGUSR2 \(its shell reports a signal as 128 \+ its number, here 12\)/,
    );
  });

  it('shellSignal names 128 + n (pure)', () => {
    const cases: Array<[number, string | undefined]> = [
      [139, 'SIGSEGV'],
      [137, 'SIGKILL'],
      [143, 'SIGTERM'],
      [134, 'SIGABRT'],
      [128, undefined],
      [1, undefined],
      [255, undefined],
    ];
    for (const [code, name] of cases) assert.equal(shellSignal(code), name, `exit code ${code}`);
  });
});
