// tempDir (local-helpers) removes a test's folder only once the test's providers have closed.
// Before, tests removed their folder in an after hook added before makeProvider's close: hooks run
// in the order they were added, so the folder went while the instances still ran and wrote into it,
// and the removal failed ENOTEMPTY (or, racing a writer, looped), failing a test whose body passed.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '../helpers/until.js';
import { makeProvider, tempDir } from './local-helpers.js';

test('a folder an instance keeps writing into as the test ends is removed only once it stopped', async (t) => {
  const outside = await mkdtemp(join(tmpdir(), 'scaleplane-tempdir-outside-'));
  t.after(() => rm(outside, { recursive: true, force: true }));
  const lost = join(outside, 'lost');
  let dir = '';
  await t.test('an instance creating files in the folder until it is stopped', async (st) => {
    dir = await tempDir(st, 'tempdir');
    // The provider is built after the folder, as in most tests: its close hook comes later. The
    // instance notes (outside the folder) a write that failed: the folder gone while it ran.
    const provider = makeProvider(
      st,
      {
        command: `i=0; while :; do i=$((i+1)); : > "${dir}/file-$i" 2>/dev/null || { echo "$i" > "${lost}"; exit 3; }; done`,
      },
      { healthPath: '' },
    );
    await provider.scaleTo(1);
    await until(() => readdirSync(dir).length >= 100, 10_000, 'the instance writing into the folder');
  });
  assert.equal(existsSync(dir), false, `${dir} left behind`);
  const failedAt = await readFile(lost, 'utf8').catch(() => undefined);
  assert.equal(failedAt, undefined, `the folder was removed while the instance still wrote into it`);
});
