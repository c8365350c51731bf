// Piped instances (no instance registry) log to files in a folder of their provider's own under
// logDir. Before, every provider wrote `<logDir>/scaleplane-<id>.log`: ids restart at web-1 in each
// provider, so two controllers with a group `web` appended to one file (and cut each other's), and
// the files were never removed, so a new run appended to an old run's.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { LocalProvider } from '../../src/providers/local/provider.js';
import { until } from '../helpers/until.js';
import { makeProvider, recordingLogger, tempDir } from './local-helpers.js';

/** logDir is a folder of the test's own, removed once its providers have closed. */
function logDir(t: TestContext): Promise<string> {
  return tempDir(t, 'logfolder');
}

/** filesUnder lists every file below `dir` (any depth), as paths. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

function portOf(provider: LocalProvider): string {
  return provider.instances()[0]!.address.split(':').at(-1)!;
}

describe('local provider: log files of piped instances', () => {
  it('two providers with a group of the same name write two files, each its own lines', async (t) => {
    const dir = await logDir(t);
    const a = makeProvider(t, {}, { logDir: dir });
    const b = makeProvider(t, {}, { logDir: dir });
    await Promise.all([a.scaleTo(1), b.scaleTo(1)]);
    assert.equal(a.instances()[0]!.id, b.instances()[0]!.id, 'both instances are web-1');
    const ports = [portOf(a), portOf(b)].sort();
    const listening = () =>
      filesUnder(dir).flatMap((f) => readFileSync(f, 'utf8').match(/^listening on \d+$/gm) ?? []);
    await until(() => listening().length === 2, 10_000, 'both instances logged "listening on"');
    const files = filesUnder(dir).filter((f) => f.endsWith('scaleplane-web-1.log'));
    assert.equal(files.length, 2, `one file per provider, got ${files.join(', ')}`);
    const seen = files.map((f) => readFileSync(f, 'utf8').match(/^listening on (\d+)$/gm) ?? []);
    for (const lines of seen) assert.equal(lines.length, 1, `a file holds one instance's lines: ${lines}`);
    assert.deepEqual(
      seen
        .flat()
        .map((l) => l.split(' ').at(-1))
        .sort(),
      ports,
    );
    for (const f of files) assert.match(f, /\/scaleplane-logs-[^/]+\/scaleplane-web-1\.log$/);
  });

  it('a clean close leaves no file of an instance that stopped cleanly, nor the folder', async (t) => {
    const dir = await logDir(t);
    const provider = makeProvider(t, {}, { logDir: dir });
    await provider.scaleTo(2);
    await until(() => filesUnder(dir).length === 2, 10_000, 'two log files');
    // One stopped by a scale-in, one by the close.
    await provider.scaleTo(1);
    await provider.close();
    assert.deepEqual(readdirSync(dir), [], 'logDir is as it was');
  });

  it('a crashed instance keeps its file, named in its failure log', async (t) => {
    const dir = await logDir(t);
    const logger = recordingLogger();
    // No replacement after the crash: crashLoopLimit 0 pauses the group at once.
    const provider = makeProvider(t, { crashLoopLimit: 0 }, { logDir: dir, logger });
    await provider.scaleTo(1);
    const port = portOf(provider);
    await fetch(`http://${provider.instances()[0]!.address}/crash`).catch(() => {});
    await until(
      () => logger.lines.some((l) => l.msg.startsWith('instance failed')),
      10_000,
      'the failure log',
    );
    const failure = logger.lines.find((l) => l.msg.startsWith('instance failed'))!;
    const file = failure.fields.file as string;
    assert.match(file, /\/scaleplane-logs-[^/]+\/scaleplane-web-1\.log$/);
    assert.equal(failure.msg, `instance failed; its output is in ${file}`);
    await provider.close();
    assert.ok(existsSync(file), `${file} kept after close`);
    assert.equal(readFileSync(file, 'utf8'), `listening on ${port}\n`);
    assert.ok(
      logger.lines.some((l) => l.msg.includes('kept the log files of 1 failed instance(s) of web')),
      'the close says where the kept file is',
    );
  });
});
