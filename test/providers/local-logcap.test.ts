// With a registry (controller.state), instances write their own log files, so nothing bounded them:
// a chatty instance (`yes`) grew its file by about 250 MB/s until the disk was full. Now the
// provider checks them every second and cuts one past maxLogBytes (last part kept in `<file>.1`).
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { capLogFile } from '../../src/providers/local/logcap.js';
import { makeProvider, memoryRegistry, recordingLogger, tempDir } from './local-helpers.js';

test('capLogFile keeps the last bytes in <file>.1 and empties the file; small files are left alone', async (t) => {
  const dir = await tempDir(t, 'logcap');
  const file = join(dir, 'a.log');
  await writeFile(file, `${'x'.repeat(90)}0123456789`);
  assert.equal(capLogFile(file, 200, 10), 0);
  assert.equal((await stat(file)).size, 100);
  assert.equal(capLogFile(file, 50, 10), 100);
  assert.equal((await stat(file)).size, 0);
  assert.equal(await readFile(`${file}.1`, 'utf8'), '0123456789');
  assert.equal(capLogFile(join(dir, 'gone.log'), 50, 10), 0);
});

test('a flooding instance with a registry: its log file stays bounded', async (t) => {
  const dir = await tempDir(t, 'logcap');
  const max = 4 * 1024 * 1024;
  let resolveCut!: () => void;
  const cut = new Promise<void>((resolve) => {
    resolveCut = resolve;
  });
  const logger = recordingLogger((line) => {
    if (line.level === 'warn' && /log file .* passed/.test(line.msg)) resolveCut();
  });
  const provider = makeProvider(
    t,
    // 100 MB at once: past the 4 MiB cap at the first check.
    { command: 'yes 0123456789012345678901234567890123456789 | head -c 100000000; exec sleep 60' },
    { healthPath: '', registry: memoryRegistry(), logDir: dir, maxLogBytes: max, logger },
  );
  await provider.scaleTo(1);
  await Promise.race([
    cut,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no cut within 10 s')), 10_000).unref()),
  ]);
  const file = join(dir, `scaleplane-${provider.instances()[0]!.id}.log`);
  assert.equal((await stat(`${file}.1`)).size, 1024 * 1024, 'the last MiB is kept');
});
