// An adoptable instance (controller.state) logs to `scaleplane-<id>.log` in its log folder, by
// default the shared /tmp. Its output is the app's: no other local user may read it, and a name
// planted there by someone else (a symlink) must not be written through.
import assert from 'node:assert/strict';
import { lstat, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { capLogFile } from '../../src/providers/local/logcap.js';
import { makeProvider, memoryRegistry, tempDir, until } from './local-helpers.js';

test('an adoptable instance’s log file is created 0600', async (t) => {
  const dir = await tempDir(t, 'logmode');
  const previous = process.umask(0o022); // the usual one: files are 0644 unless created otherwise
  t.after(() => process.umask(previous));
  const provider = makeProvider(t, {}, { registry: memoryRegistry(), logDir: dir });
  await provider.scaleTo(1);
  await until(provider, () => provider.instances().some((i) => i.state === 'ready'));
  const file = join(dir, `scaleplane-${provider.instances()[0]!.id}.log`);
  // Before: 644, readable by every local user.
  assert.equal(((await stat(file)).mode & 0o777).toString(8), '600');
});

test('cutting a log file writes <file>.1 through no symlink planted at its name, 0600', async (t) => {
  const dir = await tempDir(t, 'logmode');
  const file = join(dir, 'scaleplane-web-1.log');
  const victim = join(dir, 'authorized_keys');
  await writeFile(victim, 'untouched');
  await symlink(victim, `${file}.1`);
  await writeFile(file, `${'x'.repeat(90)}0123456789`);
  assert.equal(capLogFile(file, 50, 10), 100, 'cut');
  // Before: the symlink was followed and the victim held the instance's last bytes.
  assert.equal(await readFile(victim, 'utf8'), 'untouched', 'the target of the planted symlink');
  assert.ok((await lstat(`${file}.1`)).isFile(), '<file>.1 is a file of its own now');
  assert.equal(await readFile(`${file}.1`, 'utf8'), '0123456789');
  assert.equal(((await stat(`${file}.1`)).mode & 0o777).toString(8), '600');
  assert.equal((await stat(file)).size, 0, 'the log file was emptied');
});
