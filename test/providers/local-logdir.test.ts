// Adoptable local instances (a Redis or PostgreSQL state store) logged to /tmp/scaleplane-<id>.log.
// In the shared, sticky /tmp another local user could create that name (or its `.prev`) first; a
// controller running as a normal user could then neither move it aside nor replace it (EPERM) and
// the instance never started. They now log to a private folder of the controller's user, and the
// path is recorded, so that an adopting successor names the same file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { defaultInstanceLogDir } from '../../src/providers/local/logdir.js';
import { runnable } from '../helpers/runnable.js';

const run = promisify(execFile);
const CONTROLLER = fileURLToPath(new URL('../fixtures/local-logdir-controller.ts', import.meta.url));
/** The controller's user: an unprivileged uid of its own (root ignores the sticky bit). */
const CONTROLLER_UID = 61_234;
const NOBODY = 65_534;
const setprivFor = (uid: number) => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];

const canSwitchUsers = process.getuid?.() === 0;

/**
 * readableBy says whether `uid` can read the checkout's tsx: the controller runs as that user from
 * this checkout, which a clone into a private folder (mktemp's 0700, a home folder) keeps from it.
 */
async function readableBy(uid: number): Promise<boolean> {
  const tsx = fileURLToPath(new URL('../../node_modules/tsx/package.json', import.meta.url));
  const [cmd, ...args] = setprivFor(uid);
  return run(cmd!, [...args, 'test', '-r', tsx]).then(
    () => true,
    () => false,
  );
}

const skip = !canSwitchUsers
  ? 'needs root to run as two other users (setpriv)'
  : !(await readableBy(CONTROLLER_UID)) &&
    `the checkout is not readable by uid ${CONTROLLER_UID} (a private folder)`;

test('another user’s files at the old /tmp names do not keep an adoptable instance from starting', {
  skip,
}, async (t) => {
  // A stand-in for /tmp (sticky, world-writable): the real one is shared with other runs.
  const shared = await mkdtemp(join(tmpdir(), 'scaleplane-logdir-shared-'));
  const home = await mkdtemp(join(tmpdir(), 'scaleplane-logdir-home-'));
  t.after(() => rm(shared, { recursive: true, force: true }));
  t.after(() => rm(home, { recursive: true, force: true }));
  await chmod(shared, 0o1777);
  await chown(home, CONTROLLER_UID, CONTROLLER_UID);
  const planted = ['scaleplane-web-1.log', 'scaleplane-web-1.log.1', 'scaleplane-web-1.log.prev'];
  const [cmd, ...args] = setprivFor(NOBODY);
  await run(cmd!, [...args, 'touch', ...planted.map((name) => join(shared, name))]);

  const [ctl, ...ctlArgs] = setprivFor(CONTROLLER_UID);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, TMPDIR: shared };
  delete env.XDG_STATE_HOME;
  delete env.STATE_DIRECTORY;
  const { stdout } = await run(ctl!, [...ctlArgs, process.execPath, ...runnable(CONTROLLER)], {
    env,
    cwd: process.cwd(),
    timeout: 60_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    ready: boolean;
    startError?: string;
    recordedLogFile?: string;
    adopted?: string[];
    adopterLogFile?: string;
    adopterLogText?: string;
  };
  // Before: `cannot open its log file in <shared>: EPERM: operation not permitted, rename …`.
  assert.equal(result.startError, undefined, 'web-1 failed to start');
  assert.ok(result.ready, `web-1 never got ready: ${stdout}`);
  const logDir = join(home, '.local', 'state', 'scaleplane', 'logs');
  assert.equal(result.recordedLogFile, join(logDir, 'scaleplane-web-1.log'), 'the log file recorded');
  assert.equal(((await stat(logDir)).mode & 0o777).toString(8), '700', 'the log folder is private');
  assert.deepEqual(result.adopted, ['web-1'], 'the successor adopted web-1');
  assert.equal(result.adopterLogFile, result.recordedLogFile, 'the successor names the file web-1 wrote');
  assert.match(result.adopterLogText ?? '', /line 3/, 'the file holds web-1’s output');
  assert.deepEqual(
    (await readdir(shared)).filter((n) => n.startsWith('scaleplane-')).sort(),
    planted,
    'nothing written in the shared folder',
  );
});

test('the default log folder: systemd’s StateDirectory, else XDG_STATE_HOME, else ~/.local/state', () => {
  assert.equal(defaultInstanceLogDir({}, '/home/ann'), '/home/ann/.local/state/scaleplane/logs');
  assert.equal(
    defaultInstanceLogDir({ XDG_STATE_HOME: '/x/state' }, '/home/ann'),
    '/x/state/scaleplane/logs',
  );
  // The XDG spec: a relative path is invalid and ignored.
  assert.equal(
    defaultInstanceLogDir({ XDG_STATE_HOME: 'rel' }, '/home/ann'),
    '/home/ann/.local/state/scaleplane/logs',
  );
  assert.equal(
    defaultInstanceLogDir(
      { STATE_DIRECTORY: '/var/lib/scaleplane:/var/lib/other', XDG_STATE_HOME: '/x' },
      '/',
    ),
    '/var/lib/scaleplane/logs',
  );
});
