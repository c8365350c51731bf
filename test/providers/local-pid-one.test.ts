// Scaleplane started as PID 1 (a container without --init) cannot reap the processes its
// instances orphan: they stay zombies. The local provider says so once, naming the remedy.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pidOneWarning } from '../../src/providers/local/pid-one.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP = fileURLToPath(new URL('../fixtures/provider-app.mjs', import.meta.url));
const skip =
  process.getuid?.() !== 0 || !existsSync('/usr/bin/unshare')
    ? 'needs root and unshare (a pid namespace)'
    : false;

/** runAsPidOne runs two providers (groups) in a new pid namespace, as its PID 1; resolves with their log. */
function runAsPidOne(): Promise<{ code: number | null; out: string }> {
  const script = `
    import { LocalProvider } from './src/providers/index.ts';
    const logger = { info() {}, error() {}, warn: (_f, msg) => console.log('WARN ' + msg) };
    const config = { provider: 'local', command: ${JSON.stringify(`exec "${process.execPath}" "${APP}"`)},
      cwd: '/', portEnv: 'PORT', env: {}, host: '127.0.0.1', startTimeout: 10000, stopTimeout: 2000,
      crashLoopLimit: 5, crashLoopWindow: 60000 };
    console.log('PID ' + process.pid);
    const groups = ['web', 'api'].map((group) =>
      new LocalProvider({ group, config, healthPath: '/healthz', logger, cgroups: null }));
    await Promise.all(groups.map((p) => p.scaleTo(1)));
    await Promise.all(groups.map((p) => p.close()));
  `;
  return new Promise((resolve) => {
    const child = spawn(
      'unshare',
      [
        '--pid',
        '--fork',
        '--mount-proc',
        process.execPath,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('local provider as PID 1', () => {
  it('warns once that orphans of instances are never reaped, and how to fix it', { skip }, async () => {
    const { code, out } = await runAsPidOne();
    assert.equal(code, 0, `the PID 1 run failed:\n${out}`);
    assert.match(out, /^PID 1$/m, `not PID 1 in its namespace:\n${out}`);
    const warnings = out.split('\n').filter((l) => l.includes('runs as PID 1'));
    assert.equal(warnings.length, 1, `PID 1 warned ${warnings.length} times for two groups:\n${out}`);
    assert.match(warnings[0]!, /never reaped.*docker run --init/);
  });

  it('says nothing for any other pid', () => {
    assert.equal(pidOneWarning(2), undefined);
    assert.equal(pidOneWarning(4242), undefined);
    assert.match(pidOneWarning(1) ?? '', /zombies/);
  });
});
