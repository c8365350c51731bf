// The state file's lock (StateFileLock, FileState.lock, openState): who holds it, who is refused,
// and when a lock left behind is taken over. The two-process case is test/integration/state-file-lock.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Config } from '../../src/config/index.js';
import {
  type HolderLiveness,
  judgeHolder,
  type LockHolder,
  type ProcessFacts,
  parseHolder,
  StateFileLock,
} from '../../src/controller/state/file-lock.js';
import { type FileState, openState, StateError } from '../../src/controller/state/index.js';

const HERE = 'host-a';

describe('judgeHolder', () => {
  const cases: [what: string, holder: LockHolder, facts: ProcessFacts, expected: HolderLiveness][] = [
    [
      'its process runs, same start',
      { pid: 10, start: 5, host: HERE },
      { exists: true, start: 5 },
      'running',
    ],
    ['no process has the pid', { pid: 10, start: 5, host: HERE }, { exists: false }, 'gone'],
    [
      'the pid was reused (another start)',
      { pid: 10, start: 5, host: HERE },
      { exists: true, start: 6 },
      'gone',
    ],
    ['no start recorded: the pid alone', { pid: 10, host: HERE }, { exists: true, start: 6 }, 'running'],
    ['no /proc: the pid alone', { pid: 10, start: 5, host: HERE }, { exists: true }, 'running'],
    ['another host: cannot tell', { pid: 10, start: 5, host: 'host-b' }, { exists: false }, 'elsewhere'],
  ];
  for (const [what, holder, facts, expected] of cases) {
    it(`${what}: ${expected}`, () => {
      assert.equal(judgeHolder(holder, HERE, facts), expected, what);
    });
  }
});

describe('parseHolder', () => {
  it('reads what a lock holds, refuses what no Scaleplane wrote', () => {
    assert.deepEqual(
      parseHolder('{"pid":7,"start":9,"host":"h"}\n'),
      { pid: 7, start: 9, host: 'h' },
      'a lock',
    );
    for (const text of [
      '',
      'x',
      '{}',
      '{"pid":0,"host":"h"}',
      '{"pid":7}',
      '{"pid":7,"host":"h","start":"9"}',
      'null',
    ])
      assert.equal(parseHolder(text), undefined, `not a lock: ${JSON.stringify(text)}`);
  });
});

/** deadPid is the pid of a process that ran and is gone. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

describe('StateFileLock', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const statePath = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-lock-'));
    dirs.push(dir);
    return join(dir, 'state.json');
  };

  it('is held until released, refusing another taker with the file and the pid; then taken again', async () => {
    const path = await statePath();
    const lock = await StateFileLock.acquire(path);
    assert.equal(parseHolder(await readFile(`${path}.lock`, 'utf8'))?.pid, process.pid, 'the lock names us');
    await assert.rejects(
      StateFileLock.acquire(path),
      (err: unknown) =>
        err instanceof StateError &&
        err.code === 'STATE_LOCKED' &&
        err.message.includes(`state file ${path} is in use by another Scaleplane, pid ${process.pid}`),
      'a second taker is refused',
    );
    await lock.release();
    await lock.release();
    assert.ok(!existsSync(`${path}.lock`), 'released: the file is gone');
    const again = await StateFileLock.acquire(path);
    assert.equal(again.tookOverFrom, undefined, 'a released lock is no stale one');
    await again.release();
  });

  it('takes over the lock of a process that is gone, and of a pid since reused', async () => {
    const gone = await deadPid();
    const cases: [what: string, holder: LockHolder][] = [
      ['gone', { pid: gone, host: hostname() }],
      // Our own pid with another start time: the process that wrote it is gone, ours reuses its pid.
      ['reused', { pid: process.pid, start: 1, host: hostname() }],
    ];
    for (const [what, holder] of cases) {
      const path = await statePath();
      await writeFile(`${path}.lock`, JSON.stringify(holder));
      const lock = await StateFileLock.acquire(path);
      assert.deepEqual(lock.tookOverFrom, holder, `${what}: taken over from the holder named`);
      assert.equal(parseHolder(readFileSync(`${path}.lock`, 'utf8'))?.pid, process.pid, `${what}: now ours`);
      await lock.release();
    }
  });

  it("refuses a lock of another host's process, and a file that is no lock, naming what to do", async () => {
    const cases: [what: string, text: string, message: RegExp][] = [
      [
        'another host',
        JSON.stringify({ pid: 4242, host: 'elsewhere.example' }),
        /pid 4242 on host elsewhere\.example \(not checkable from here: remove .*\.lock if it is gone\)/,
      ],
      [
        'not a lock',
        'hello',
        /its lock .*\.lock is not one Scaleplane wrote; remove it if no Scaleplane uses/,
      ],
    ];
    for (const [what, text, message] of cases) {
      const path = await statePath();
      await writeFile(`${path}.lock`, text);
      await assert.rejects(
        StateFileLock.acquire(path),
        (err: unknown) =>
          err instanceof StateError && err.code === 'STATE_LOCKED' && message.test(err.message),
        what,
      );
      assert.equal(await readFile(`${path}.lock`, 'utf8'), text, `${what}: the lock is left as it was`);
    }
  });
});

describe('openState: which state files are locked', () => {
  it('locks a state file without a lease (released at close), not with one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-lock-'));
    after(() => rm(dir, { recursive: true, force: true }));
    const source = join(dir, 'scaleplane.yaml');
    const lockPath = join(dir, '.scaleplane-state.json.lock');
    const config = (lease: unknown) =>
      ({
        source,
        controller: { state: { backend: 'file', name: 'x' }, lease, journalSize: 10 },
      }) as unknown as Config;

    const store = (await openState(config(undefined))) as FileState;
    assert.ok(existsSync(lockPath), 'no lease: locked');
    await assert.rejects(openState(config(undefined)), { code: 'STATE_LOCKED' }, 'a second open is refused');
    await store.close();
    assert.ok(!existsSync(lockPath), 'closed: unlocked');

    // With a lease every controller of the group shares the file; the lease decides who acts.
    const lease = { backend: 'redis', url: 'redis://127.0.0.1:6379', ttl: 6000, name: 'x' };
    const shared = [(await openState(config(lease)))!, (await openState(config(lease)))!];
    assert.ok(!existsSync(lockPath), 'with a lease: not locked');
    await Promise.all(shared.map((s) => s.close()));
  });
});
