// An adoptable instance logs to a file; when that file cannot be opened (a full disk, a missing
// folder) the start fails like any other — reported, retried with backoff — instead of leaving a
// slot that never starts and blocks every later scaling (found by the chaos suite's disk-full fault).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeProvider, memoryRegistry, tempDir, until } from './local-helpers.js';

test('an instance whose log file cannot be opened fails its start; it starts once the file can be', async (t) => {
  const dir = await tempDir(t, 'logdir');
  const logDir = join(dir, 'not-yet');
  const provider = makeProvider(t, {}, { registry: memoryRegistry(), logDir });
  const crashes: string[] = [];
  provider.on('crash', (instance) => crashes.push(instance.id));
  provider.on('error', () => {});
  const scaled = provider.scaleTo(1);
  await until(provider, () => crashes.length >= 1);
  assert.ok(
    provider.instances().every((i) => i.state !== 'ready'),
    'nothing ready without a log file',
  );
  // The folder appears (space freed): a retry starts the instance.
  await mkdir(logDir);
  await until(provider, () => provider.instances().some((i) => i.state === 'ready'), 30_000);
  await scaled.catch(() => {});
  assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 1);
});
