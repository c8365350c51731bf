// Adoptable instances log to scaleplane-<id>.log in logDir, and ids start at web-1 again after a
// restart that adopted none: the new web-1 appended to the earlier web-1's file.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { APP, makeProvider, memoryRegistry, tempDir } from './local-helpers.js';

/** waitForLine resolves once `file` holds a line matching `pattern` (bounded). */
async function waitForLine(file: string, pattern: RegExp, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(existsSync(file) && pattern.test(readFileSync(file, 'utf8')))) {
    if (Date.now() > deadline) throw new Error(`${file} has no line ${pattern} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("a new instance with an earlier one's id gets a file of its own; the earlier one is kept as .prev", async (t) => {
  const logDir = await tempDir(t, 'logreuse');
  const file = join(logDir, 'scaleplane-web-1.log');

  // Each run says which it is: ports may repeat between runs, these lines do not.
  const run = (name: string) => ({ command: `echo "${name}"; exec "${process.execPath}" "${APP}"` });
  const first = makeProvider(t, run('run one'), { registry: memoryRegistry(), logDir, cgroups: null });
  await first.scaleTo(1);
  await waitForLine(file, /^listening on/m);
  await first.close();

  // A later run (its state store empty again: nothing to adopt) starts web-1 anew.
  const second = makeProvider(t, run('run two'), { registry: memoryRegistry(), logDir, cgroups: null });
  await second.scaleTo(1);
  assert.equal(second.instances()[0]!.id, 'web-1');
  await waitForLine(file, /^listening on/m);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^run two$/m, `${file} lacks the new web-1's output:\n${text}`);
  assert.doesNotMatch(text, /^run one$/m, `${file} still holds the earlier web-1's output:\n${text}`);
  assert.match(readFileSync(`${file}.prev`, 'utf8'), /^run one$/m, 'the earlier output is not in .prev');
});
