import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { childrenOf, exited } from '../../src/balancer/nginx/workers.js';

test('nginx workers: childrenOf lists a child process; exited waits until it is gone, false on timeout', async () => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  try {
    const pid = child.pid!;
    assert.ok((await childrenOf(process.pid)).has(pid), '(await childrenOf(process.pid)).has(pid)');
    assert.equal(await exited(process.pid, new Set([pid]), 100), false, 'still running: times out');
    const waiting = exited(process.pid, new Set([pid]), 10_000);
    child.kill('SIGTERM');
    assert.equal(await waiting, true);
    assert.equal((await childrenOf(process.pid)).has(pid), false);
  } finally {
    child.kill('SIGKILL');
  }
});
