// `npm ci` builds dist/ through `prepare`; `npx scaleplane` in the checkout runs `prepare` too (npm
// installs the checkout into npx's cache), and rebuilding there made the quick start's first CLI
// call take 15–35 s. The script is run with a stand-in for npm that records what it was asked.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runNode } from '../helpers/cli-process.js';

async function prepare(npmCommand: string): Promise<{ code: number | null; asked: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'prepare-'));
  const record = join(dir, 'asked');
  const fakeNpm = join(dir, 'npm-cli.mjs');
  await writeFile(record, '');
  await writeFile(
    fakeNpm,
    `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(record)}, process.argv.slice(2).join(' '));`,
  );
  const { code } = await runNode(['scripts/prepare.mjs'], { npm_command: npmCommand, npm_execpath: fakeNpm });
  return { code, asked: await readFile(record, 'utf8') };
}

describe('prepare (npm lifecycle)', () => {
  it('builds after npm ci and npm install', async () => {
    for (const command of ['ci', 'install']) {
      assert.deepEqual(await prepare(command), { code: 0, asked: 'run build' }, command);
    }
  });

  it('under npx, with dist/ built (npm ci builds it), does not build again', async () => {
    assert.ok(existsSync(join(ROOT, 'dist/cli/main.js')), 'dist/ is built (npm ci or npm run build)');
    assert.deepEqual(await prepare('exec'), { code: 0, asked: '' });
  });
});
