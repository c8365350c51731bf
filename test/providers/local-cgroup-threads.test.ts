// A stop is over only once the instance's processes have really ended: one whose main thread
// exited while another thread still runs (Node exits so, for a moment) shows as a zombie in /proc
// yet still runs and holds its cgroup. Taken for gone, its cgroup's rmdir failed (EBUSY) and the
// empty cgroup stayed for good: seen `pid=11778 state=Z threads=2` in cgroup.procs at the rmdir.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { killProcess, recordPid } from '../helpers/kill-groups.js';
import { makeProvider, memoryCgroupOf, recordingLogger, tempDir } from './local-helpers.js';

const layout = detectCgroups();
const gcc = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
const skip =
  !layout || process.getuid?.() !== 0
    ? 'needs cgroups (v1 or v2) writable by root'
    : !gcc
      ? 'needs gcc (builds a process whose main thread exits before another)'
      : false;

// On SIGTERM the main thread ends (pthread_exit: a zombie main thread in /proc) while a second
// thread runs on for 1.5 s, then ends the process.
const LINGER_C = String.raw`
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void *linger(void *arg) { (void)arg; usleep(1500000); exit(0); }
int main(void) {
  sigset_t set; sigemptyset(&set); sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  printf("pid %d\n", getpid()); fflush(stdout);
  int sig; sigwait(&set, &sig);
  pthread_t t; pthread_create(&t, NULL, linger, NULL);
  pthread_exit(NULL);
}
`;

describe('local provider: stopping a sized instance whose main thread ends first', () => {
  it('waits for its last thread, then removes its cgroup', { skip }, async (t) => {
    const dir = await tempDir(t, 'linger');
    writeFileSync(join(dir, 'linger.c'), LINGER_C);
    const built = spawnSync('gcc', ['-pthread', '-o', join(dir, 'linger'), join(dir, 'linger.c')]);
    assert.equal(built.status, 0, `gcc: ${built.stderr}`);

    let printed!: (pid: number) => void;
    const started = new Promise<number>((resolve) => {
      printed = resolve;
    });
    const logger = recordingLogger((line) => {
      const match = /^pid (\d+)$/.exec(line.msg);
      if (match) printed(Number(match[1]));
    });
    const provider = makeProvider(
      t,
      // No exec: the shell stays the leader and dies of SIGTERM at once, as with `command: node app`.
      { command: `"${join(dir, 'linger')}"` },
      { healthPath: '', logger, size: { memory: 64 * 1024 * 1024 } },
    );
    await provider.scaleTo(1);
    const pid = await started;
    // Recorded now: the test has it stopped, and by its cleanup its pid may be another's.
    const own = recordPid(pid);
    t.after(() => {
      killProcess(own, 'SIGKILL');
    });
    const cgroup = memoryCgroupOf(pid);
    assert.match(cgroup, /\/scaleplane\/web\/web-1-/);
    await provider.scaleTo(0);
    assert.equal(existsSync(cgroup), false, `cgroup ${cgroup} left behind`);
  });
});
