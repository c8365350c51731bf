// log/ is the bottom layer: the API and the balancer log through it, so it imports no other module
// of ours (client-error.ts once imported the API's LogThrottle, a lower layer reaching up).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

const LOG_DIR = join(import.meta.dirname, '../../src/log');

test('src/log imports nothing from the other modules of src/', async () => {
  const reaching: string[] = [];
  for (const file of (await readdir(LOG_DIR, { recursive: true })).filter((f) => f.endsWith('.ts'))) {
    const source = await readFile(join(LOG_DIR, file), 'utf8');
    for (const [, specifier] of source.matchAll(/\bfrom\s+'([^']+)'/g))
      if (specifier?.startsWith('../')) reaching.push(`${file}: ${specifier}`);
  }
  assert.deepEqual(reaching, [], 'imports of src/log reaching outside it');
});
