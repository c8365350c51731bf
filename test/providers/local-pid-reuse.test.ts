// A stop must not signal a process group by a pid the kernel has given to another process: once an
// instance's leader is reaped and its group empty, `kill(-pid)` reaches whoever leads a group with
// that pid now.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { groupOwner, type LeaderFacts } from '../../src/providers/local/pgid.js';
import { runnable } from '../helpers/runnable.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/provider-pid-reuse.ts', import.meta.url));

// A PID namespace of our own makes the reuse certain (ns_last_pid) and disturbs nobody's pids.
const noNamespace =
  process.getuid?.() !== 0 || spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0
    ? 'needs root and unshare --pid (util-linux)'
    : false;

describe('local provider: a reused pid', () => {
  it('a failed instance whose pid a stranger leads now: the stranger is not signalled', {
    skip: noNamespace,
    timeout: 60_000,
  }, async () => {
    // sh as the namespace's init (`; exit $?` keeps it from exec'ing node), so Node is not PID 1.
    const child = spawn(
      'unshare',
      [
        '--pid',
        '--fork',
        '--mount-proc',
        '/bin/sh',
        '-c',
        '"$@"; exit $?',
        'sh',
        process.execPath,
        ...runnable(FIXTURE),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const code = await new Promise((resolve) => child.once('close', resolve));
    assert.equal(code, 0, out);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
      leader: number;
      stranger: number;
      strangerAlive: boolean;
      warnings: string[];
    };
    assert.equal(result.stranger, result.leader, `the stranger got the leader's pid: ${out}`);
    assert.equal(result.strangerAlive, true, `the stranger was signalled: ${out}`);
    assert.ok(
      result.warnings.some((w) =>
        /pid now belongs to another process: its process group is not signalled/.test(w),
      ),
      out,
    );
    assert.ok(!result.warnings.some((w) => /SIGKILL/.test(w)), out);
  });

  it('groupOwner (pure)', () => {
    const cases: Array<[string, LeaderFacts, { starttime?: number } | undefined, boolean, string]> = [
      [
        'our child, not reaped (a zombie at worst)',
        { reaped: false, startTime: undefined },
        { starttime: 9 },
        true,
        'leader-unreaped',
      ],
      [
        'reaped, nobody has its pid: leftovers are ours',
        { reaped: true, startTime: undefined },
        undefined,
        true,
        'pid-free',
      ],
      [
        'adopted, its recorded start time',
        { reaped: true, startTime: 100 },
        { starttime: 100 },
        true,
        'leader-alive',
      ],
      [
        'adopted, another start time',
        { reaped: true, startTime: 100 },
        { starttime: 101 },
        false,
        'pid-reused',
      ],
      [
        'reaped child, someone has its pid',
        { reaped: true, startTime: undefined },
        { starttime: 100 },
        false,
        'pid-reused',
      ],
      ['no start time readable from the holder', { reaped: true, startTime: 100 }, {}, false, 'pid-reused'],
    ];
    for (const [name, leader, holder, ours, reason] of cases)
      assert.deepEqual(groupOwner(leader, holder), { ours, reason }, name);
  });
});
