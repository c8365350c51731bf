// `scaleplane up` without -c runs the bundled demo, also in a folder holding the user's own
// scaleplane.yaml: it now warns, naming the file and the command that runs it. Before, only a
// `config …/examples/demo/scaleplane.yaml` line told the demo's app from theirs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { demoConfigNote } from '../../src/cli/paths.js';
import { ROOT } from '../helpers/cli-process.js';
import { spawnInTree } from '../helpers/process-tree.js';
import { runnable } from '../helpers/runnable.js';

/**
 * upIn runs `scaleplane up ARGS` in `cwd` with an API token file that does not exist: the start
 * fails on it (exit 1) before anything listens or starts, after the config is read.
 */
function upIn(cwd: string, args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    // tsx (from source) is resolved from the cwd, which is not the repository here.
    const cli = runnable(join(ROOT, 'src/cli/main.ts')).map((a) =>
      a === 'tsx' ? import.meta.resolve('tsx') : a,
    );
    const child = spawnInTree(process.execPath, [...cli, 'up', ...args], {
      cwd,
      env: {
        ...process.env,
        SCALEPLANE_API_KEY: '',
        SERVICE_API_KEY: '',
        SCALEPLANE_API_KEY_FILE: join(cwd, 'no-such-token'),
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
    });
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

describe('scaleplane up without -c, beside a scaleplane.yaml', () => {
  it('warns that the demo runs, not ./scaleplane.yaml, and how to run it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'up-demo-note-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'scaleplane.yaml'), 'command: node server.js\n');
    const demo = await upIn(dir, []);
    assert.equal(demo.code, 1, demo.stdout);
    assert.match(
      demo.stdout,
      /"level":40,.*"msg":"no -c: running the bundled demo \([^)]*examples\/demo\/scaleplane\.yaml\), not \.\/scaleplane\.yaml of this folder; to run yours: scaleplane up -c scaleplane\.yaml"/,
    );
    // With -c, nothing to warn of.
    const own = await upIn(dir, ['-c', 'scaleplane.yaml']);
    assert.equal(own.code, 1, own.stdout);
    assert.doesNotMatch(own.stdout, /bundled demo/);
  });

  it('demoConfigNote (pure)', () => {
    const cases: Array<[string[], string | undefined]> = [
      [[], undefined],
      [['/app/scaleplane.yaml'], 'scaleplane.yaml'],
      [['/app/scaleplane.yml'], 'scaleplane.yml'],
      [['/app/other.yaml'], undefined],
    ];
    for (const [files, found] of cases) {
      const note = demoConfigNote('/app', '/pkg/examples/demo/scaleplane.yaml', (p) => files.includes(p));
      if (found === undefined) assert.equal(note, undefined, files.join());
      else
        assert.match(
          note ?? '',
          new RegExp(
            `not \\./${found.replace('.', '\\.')} .* scaleplane up -c ${found.replace('.', '\\.')}$`,
          ),
        );
    }
  });
});
