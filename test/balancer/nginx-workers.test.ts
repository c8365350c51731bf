import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { childrenOf, exited, retire, startOf } from '../../src/balancer/nginx/workers.js';

test('nginx workers: childrenOf lists a child process; exited waits until the retired pid (with its start time) is gone, false on timeout', async () => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  try {
    const pid = child.pid!;
    assert.ok((await childrenOf(process.pid)).has(pid), '(await childrenOf(process.pid)).has(pid)');
    const retired = await retire([pid]);
    assert.equal(retired.size, 1, 'a running process is retired with its start time');
    assert.equal(await exited(retired, 100), false, 'still running: times out');
    // Another process that got its pid (a start time not the retired one's) is not it.
    assert.equal(await exited(new Map([[pid, 'other']]), 100), true, 'a reused pid is another process');
    const waiting = exited(retired, 10_000);
    child.kill('SIGTERM');
    assert.equal(await waiting, true);
    // exited counts it gone once it is a zombie, before Node has reaped it.
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    assert.equal((await childrenOf(process.pid)).has(pid), false);
    assert.equal(await startOf(pid), undefined, 'an exited process has no start time');
  } finally {
    child.kill('SIGKILL');
  }
});
