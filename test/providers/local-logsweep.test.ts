// Two ways the piped instances' log folders grew without bound: a crash loop kept one more failed
// instance's file per crash for the whole run, and a controller killed without a close
// (SIGKILL) left its folder in logDir for good, with nothing ever removing it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { KEPT_FAILED_LOG_FILES, PipedLogFiles } from '../../src/providers/local/logfiles.js';
import {
  decideSweep,
  type LogFolderFacts,
  STALE_LOG_FOLDER_AGE_MS,
} from '../../src/providers/local/logsweep.js';
import { until } from '../helpers/until.js';
import { makeProvider, recordingLogger, tempDir } from './local-helpers.js';

/** logDir is a folder of the test's own, removed once its providers have closed. */
function logDir(t: TestContext): Promise<string> {
  return tempDir(t, 'logsweep');
}

/** deadPid is the pid of a process that ran and exited (and was reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid!;
  await once(child, 'exit');
  return pid;
}

/** livePid is the pid of a process that runs until the test ends. */
async function livePid(t: TestContext): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  await once(child, 'spawn');
  t.after(() => child.kill('SIGKILL'));
  return child.pid!;
}

/** leftFolder makes a folder as a controller leaves it, with a kept file, last touched `ageMs` ago. */
function leftFolder(dir: string, name: string, ageMs: number): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  const file = join(folder, 'scaleplane-web-1.log');
  writeFileSync(file, 'Error: boom\n');
  const at = (Date.now() - ageMs) / 1000;
  utimesSync(file, at, at);
  utimesSync(folder, at, at);
  return folder;
}

describe('local provider: failed instances keep only the newest log files', () => {
  it(`keeps the files of the newest ${KEPT_FAILED_LOG_FILES} failed instances`, async (t) => {
    const dir = await logDir(t);
    const logs = new PipedLogFiles(dir);
    const dropped: string[][] = [];
    const stopped = logs.open('web-0').file;
    writeFileSync(stopped, 'ok\n');
    for (let i = 1; i <= KEPT_FAILED_LOG_FILES + 2; i++) {
      const { file } = logs.open(`web-${i}`);
      writeFileSync(file, `crash ${i}\n`);
      writeFileSync(`${file}.1`, `older output of ${i}\n`);
      dropped.push(logs.ended(file, 'failed'));
    }
    // The running (then stopped) instance's file is not a failed one and does not count.
    assert.ok(existsSync(stopped), 'existsSync(stopped)');
    assert.deepEqual(
      dropped.flat().map((f) => basename(f)),
      ['scaleplane-web-1.log', 'scaleplane-web-2.log'],
    );
    const left = readdirSync(logs.folder!).filter((f) => f.endsWith('.log') && f !== 'scaleplane-web-0.log');
    assert.equal(left.length, KEPT_FAILED_LOG_FILES);
    assert.ok(
      !left.includes('scaleplane-web-1.log') && !left.includes('scaleplane-web-2.log'),
      "!left.includes('scaleplane-web-1.log') && !left.includes('scaleplane-web-2.log')",
    );
    assert.ok(!existsSync(join(logs.folder!, 'scaleplane-web-1.log.1')), 'its cut part goes too');
    logs.ended(stopped, 'stopped');
    const { kept } = logs.cleanUp();
    assert.equal(kept.length, KEPT_FAILED_LOG_FILES);
  });

  it('a crash loop deletes the oldest failed file at each crash, and says so once', async (t) => {
    const dir = await logDir(t);
    const logger = recordingLogger();
    const provider = makeProvider(t, { crashLoopLimit: 10 }, { logDir: dir, logger, keptFailedLogFiles: 1 });
    await provider.scaleTo(1);
    const failures = () => logger.lines.filter((l) => l.msg.startsWith('instance failed'));
    for (let crash = 1; crash <= 3; crash++) {
      await until(
        () => provider.instances().some((i) => i.state === 'ready'),
        10_000,
        `a ready instance before crash ${crash}`,
      );
      const instance = provider.instances().find((i) => i.state === 'ready')!;
      await fetch(`http://${instance.address}/crash`).catch(() => {});
      await until(() => failures().length === crash, 10_000, `failure ${crash} logged`);
    }
    const files = failures().map((l) => l.fields.file as string);
    assert.deepEqual(
      files.map((f) => existsSync(f)),
      [false, false, true],
      'only the newest failed instance keeps its file',
    );
    const said = logger.lines.filter((l) => l.msg.startsWith('deleted '));
    assert.equal(said.length, 1, 'said once, not at every crash');
    assert.deepEqual(said[0]!.fields.dropped, [files[0]]);
    assert.match(said[0]!.msg, /only the log files of the newest 1 failed instances of web are kept/);
  });
});

describe('local provider: stale log folders of dead controllers', () => {
  const self = { uid: 1000, pid: 4242 };
  const now = 10 * STALE_LOG_FOLDER_AGE_MS;
  const old = now - STALE_LOG_FOLDER_AGE_MS - 1;
  const facts = (over: Partial<LogFolderFacts>): LogFolderFacts => ({
    name: 'scaleplane-logs-77-AbC123',
    isDirectory: true,
    uid: 1000,
    newestMtimeMs: old,
    ownerAlive: false,
    ...over,
  });
  const cases: [string, Partial<LogFolderFacts>, boolean, string][] = [
    ['dead owner, this user, old', {}, true, 'stale'],
    ['exactly 24 h old', { newestMtimeMs: now - STALE_LOG_FOLDER_AGE_MS }, true, 'stale'],
    ['a millisecond younger than 24 h', { newestMtimeMs: now - STALE_LOG_FOLDER_AGE_MS + 1 }, false, 'young'],
    ['owner alive', { ownerAlive: true }, false, 'owner-alive'],
    ['another user', { uid: 1001 }, false, 'other-user'],
    ['this very process', { name: 'scaleplane-logs-4242-AbC123' }, false, 'ours'],
    [
      'no pid in the name (before pids)',
      { name: 'scaleplane-logs-AbC123', ownerAlive: undefined },
      false,
      'no-pid',
    ],
    ['a file, not a folder', { isDirectory: false }, false, 'not-a-folder'],
  ];
  for (const [name, over, sweep, reason] of cases) {
    it(`decideSweep: ${name} -> ${reason}`, () => {
      assert.deepEqual(decideSweep(facts(over), self, now), { sweep, reason });
    });
  }

  it('the first piped start removes old folders of dead controllers, and only those', async (t) => {
    const dir = await logDir(t);
    const day = STALE_LOG_FOLDER_AGE_MS;
    const dead = await deadPid();
    const live = await livePid(t);
    const stale = leftFolder(dir, `scaleplane-logs-${dead}-Stale1`, day + 3_600_000);
    const young = leftFolder(dir, `scaleplane-logs-${dead}-Young1`, day - 3_600_000);
    const alive = leftFolder(dir, `scaleplane-logs-${live}-Alive1`, 7 * day);
    const noPid = leftFolder(dir, 'scaleplane-logs-NoPid1', 7 * day);
    const keep = [young, alive, noPid];
    if (process.getuid?.() === 0) {
      const other = leftFolder(dir, `scaleplane-logs-${dead}-Other1`, 7 * day);
      chownSync(other, 65534, 65534);
      keep.push(other);
    }
    const logger = recordingLogger();
    const provider = makeProvider(t, {}, { logDir: dir, logger });
    await provider.scaleTo(1);
    assert.ok(!existsSync(stale), 'a dead controller’s folder untouched for over 24 h is removed');
    for (const folder of keep) assert.ok(existsSync(join(folder, 'scaleplane-web-1.log')), `${folder} kept`);
    const own = readdirSync(dir).filter((n) => n.startsWith(`scaleplane-logs-${process.pid}-`));
    assert.equal(own.length, 1, 'the provider’s own folder is named for its pid');
    const said = logger.lines.find((l) => l.msg.startsWith('removed 1 log folder(s)'));
    assert.ok(said, 'the sweep is logged');
    assert.deepEqual(said.fields.swept, [stale]);
  });
});
