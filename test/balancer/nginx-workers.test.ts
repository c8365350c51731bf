import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { childrenOf, exited, notMaster, retire, startOf } from '../../src/balancer/nginx/workers.js';

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

test('nginx workers: exited is timed on the monotonic clock: a step of the system clock forward does not end it', async (t) => {
  // Before, its deadline was on Date.now: a step forward (NTP, a VM resumed, `date -s`) during a
  // scale-in's wait made it answer false at its next poll, and the instance was stopped while a
  // retired worker still sent it requests. Date.now is replaced; performance.now is left alone.
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const real = Date.now;
  t.after(() => {
    Date.now = real;
    child.kill('SIGKILL');
  });
  const retired = await retire([child.pid!]);
  const waiting = exited(retired, 10_000);
  Date.now = () => real() + 3_600_000;
  // Eight polls: the worker still runs, so only a timeout could have ended the wait meanwhile.
  const early = await Promise.race([waiting, delay(200).then(() => 'still waiting')]);
  Date.now = real;
  assert.equal(early, 'still waiting', 'a step forward of 1 h did not end the 10-s wait');
  child.kill('SIGTERM');
  assert.equal(await waiting, true, 'it ends once the worker has exited');
});

test('nginx workers: notMaster takes a master that has not titled itself yet (still `/usr/sbin/nginx -c …`) for one, any other program not', async () => {
  // A master writes its pid file before it sets its title "nginx: master process …": a sync in that
  // moment was refused as "not an nginx master but \"/usr/sbin/nginx -c …\"" (once in a CI run).
  // `exec -a` gives a stand-in nginx's argv; the pid of another program is still told apart.
  const starting = spawn('bash', ['-c', 'exec -a /usr/sbin/nginx sleep 30'], {
    stdio: 'ignore',
  });
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  await Promise.all([once(starting, 'spawn'), once(other, 'spawn')]);
  try {
    // bash replaces itself with the program: wait until the command line is the new one.
    let line = '';
    for (let i = 0; i < 100 && !line.startsWith('/usr/sbin/nginx'); i++) {
      line = (await readFile(`/proc/${starting.pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      if (!line.startsWith('/usr/sbin/nginx')) await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(line, /^\/usr\/sbin\/nginx /, 'the stand-in runs as nginx');
    assert.equal(await notMaster(starting.pid!), undefined, 'a master before its title is a master');
    assert.equal(await notMaster(other.pid!), 'sleep 30', 'another program is named');
  } finally {
    starting.kill('SIGKILL');
    other.kill('SIGKILL');
  }
});
