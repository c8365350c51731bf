// Test cleanups kill process groups by pgids learnt earlier (test/helpers/kill-groups.ts): one whose
// pid another process has now (reused: pid_max 32768 wraps within minutes of a full run) must be
// left alone; before, it was SIGKILLed, a private MariaDB another test file started with setsid
// among them. Pid reuse cannot be forced, so a live `setsid sleep` stands in for the process that
// took the pid over, and the record it is checked against has another start time.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it, type TestContext } from 'node:test';
import { readProcStat } from '../../src/providers/local/pgid.js';
import { processGroupMembers, waitUntilGone } from '../helpers/cli-process.js';
import { KnownGroups, KnownProcesses, killGroup, recordPid } from '../helpers/kill-groups.js';

/**
 * setsidSleep starts `sleep 600` in a session of its own, a group leader as a private server is.
 * `detached` is setsid(2) before the exec (the setsid command would call it after its own exec,
 * so the spawn event could come first).
 */
async function setsidSleep(t: TestContext): Promise<{ child: ChildProcess; pid: number }> {
  const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL')); // the ChildProcess, not a pgid: harmless once it exited
  await once(child, 'spawn');
  const pid = child.pid!;
  assert.equal(readProcStat(pid)?.pgrp, pid, `setsid sleep (pid ${pid}) leads its own group`);
  return { child, pid };
}

const exitOf = (child: ChildProcess) =>
  once(child, 'exit').then(([code, signal]) => `exited (${code}, ${signal})`);

describe('killGroup signals only the group it recorded', () => {
  it('leaves alone a group whose leader has another start time than recorded (a reused pid)', async (t) => {
    const { child, pid } = await setsidSleep(t);
    const exited = exitOf(child);
    const now = readProcStat(pid)!.starttime!;
    const lines: string[] = [];
    const groups = new KnownGroups((line) => lines.push(line));
    // What the test would have recorded of an earlier process with this pid: it started before.
    groups.add({ pid, startTime: now - 1 });
    const outcomes = groups.killAll('SIGKILL');
    assert.deepEqual(
      outcomes.map((o) => [o.pid, o.sent, o.reason]),
      [[pid, false, 'pid-reused']],
      `not sent: ${outcomes.map((o) => o.message).join('; ')}`,
    );
    assert.equal(lines.length, 1, `one line logged: ${lines.join('; ')}`);
    assert.match(lines[0]!, new RegExp(`left process group ${pid} alone \\(no SIGKILL\\)`), lines[0]);
    assert.notEqual(readProcStat(pid)?.state, 'Z', 'alive after the skipped SIGKILL');
    // Recorded as gone when learnt (no start time) and held by a process now: not ours either.
    const unknown = killGroup({ pid, startTime: undefined }, 'SIGKILL');
    assert.equal(unknown.reason, 'pid-reused', unknown.message);
    // Proof that no SIGKILL went: a SIGKILL pending or delivered would be its cause of death.
    child.kill('SIGTERM');
    assert.equal(await exited, 'exited (null, SIGTERM)', 'left alone: it died of the SIGTERM sent after');
  });

  it('kills a group whose leader still has the recorded start time', async (t) => {
    const { child, pid } = await setsidSleep(t);
    const exited = exitOf(child);
    const lines: string[] = [];
    const groups = new KnownGroups((line) => lines.push(line));
    const record = groups.add(pid);
    assert.equal(record.startTime, readProcStat(pid)?.starttime, 'recorded with its start time');
    const outcome = groups.kill(pid, 'SIGKILL');
    assert.equal(outcome.sent, true, outcome.message);
    assert.equal(outcome.reason, 'leader-alive', outcome.message);
    assert.equal(await exited, 'exited (null, SIGKILL)', 'killed by it');
    assert.deepEqual(lines, [], `nothing skipped: ${lines.join('; ')}`);
  });

  it('kills what is left of a group whose leader exited (no process has the pid)', async (t) => {
    // The leader (sh) exits; its background sleep stays in the group, as an instance's child may.
    const child = spawn('sh', ['-c', 'sleep 600 & echo $!'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    t.after(() => child.kill('SIGKILL'));
    const leaderExited = once(child, 'exit');
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const member = Number(line);
    const record = recordPid(child.pid!);
    t.after(() => {
      try {
        process.kill(member, 'SIGKILL');
      } catch {}
    });
    await leaderExited; // reaped by this process: the leader's pid is free
    assert.deepEqual(processGroupMembers([record.pid]), [member], 'the sleep is left in the group');
    const outcome = killGroup(record, 'SIGKILL');
    assert.equal(outcome.sent, true, outcome.message);
    assert.equal(outcome.reason, 'pid-free', outcome.message);
    assert.deepEqual(await waitUntilGone([record.pid], 10_000), [], 'the rest of the group killed');
  });

  it('KnownProcesses: the one process, by its pid, under the same rule', async (t) => {
    const { child, pid } = await setsidSleep(t);
    const exited = exitOf(child);
    const lines: string[] = [];
    const reused = new KnownProcesses((line) => lines.push(line));
    reused.add({ pid, startTime: readProcStat(pid)!.starttime! + 1 });
    const skipped = reused.kill(pid, 'SIGKILL');
    assert.deepEqual([skipped.sent, skipped.reason], [false, 'pid-reused'], skipped.message);
    assert.match(lines.join('\n'), new RegExp(`left process ${pid} alone \\(no SIGKILL\\)`), 'logged');
    const ours = new KnownProcesses((line) => lines.push(line));
    ours.add(pid);
    const killed = ours.kill(pid, 'SIGTERM');
    assert.deepEqual([killed.sent, killed.reason], [true, 'leader-alive'], killed.message);
    assert.equal(await exited, 'exited (null, SIGTERM)', 'the SIGKILL skipped, the SIGTERM sent');
  });

  it('refuses a pgid it never recorded, or one that is no group of ours', () => {
    const groups = new KnownGroups(() => {});
    assert.throws(() => groups.kill(4_194_304), /pid: 4194304 was never recorded/, 'unrecorded pgid refused');
    assert.throws(() => recordPid(0), /pid: want an integer above 1, got 0/, '0 is this process group');
    assert.throws(() => recordPid(1), /got 1/, '-1 is every process');
    assert.throws(() => recordPid(Number(undefined)), /got NaN/, 'a log line without a pid');
  });
});
