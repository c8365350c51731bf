// The file state store survives a power loss or kernel crash, not only a crash of the controller:
// the new file's data reaches the disk before the rename makes it the state file (else a crash
// right after can leave a state file that is empty or holds zeros: XFS, ext4 with
// noauto_da_alloc), and the rename itself reaches the disk (an fsync of the folder) before the
// write resolves (else the last decisions, answered to the API as stored, are undone). Checked on
// the system calls the real store makes, traced with strace in a child process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const STATE_MODULE = resolve(import.meta.dirname, '../../src/controller/state/index.ts');

describe('file state store: durable writes', () => {
  it('syncs the new file before the rename, and the folder after it, before the write resolves', async (t) => {
    try {
      await execFileAsync('strace', ['-V']);
    } catch {
      t.skip('needs strace');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-state-durable-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'state.json');
    const marker = join(dir, 'written');
    // The marker's open comes right after the write resolved: what the trace shows before it was
    // done before the store answered.
    const script = `
      import { openSync } from 'node:fs';
      import { FileState } from ${JSON.stringify(STATE_MODULE)};
      const store = new FileState({ path: ${JSON.stringify(path)} });
      await store.saveDesired('web', 3);
      openSync(${JSON.stringify(marker)}, 'w');
    `;
    const trace = join(dir, 'trace.txt');
    await execFileAsync('strace', [
      '-f',
      '-qq',
      '-y',
      '-e',
      'trace=openat,fsync,fdatasync,rename,renameat,renameat2',
      '-o',
      trace,
      process.execPath,
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      script,
    ]);
    assert.equal(JSON.parse(await readFile(path, 'utf8')).desired.web, 3, 'the state file holds the write');
    const lines = (await readFile(trace, 'utf8')).split('\n');
    const at = (what: string, re: RegExp) => {
      const i = lines.findIndex((l) => re.test(l));
      assert.ok(i >= 0, `${what}: no such system call in the trace`);
      return i;
    };
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const tmp = `${esc(path)}\\.[^>"]*tmp`;
    const fileSync = at('the new file synced', new RegExp(`f(data)?sync\\(\\d+<${tmp}>`));
    const renamed = at('the rename', new RegExp(`rename(at2?)?\\(.*"${tmp}".*"${esc(path)}"`));
    const dirSync = at('the folder synced', new RegExp(`f(data)?sync\\(\\d+<${esc(dir)}>`));
    const done = at('the write resolved', new RegExp(`openat\\(.*"${esc(marker)}"`));
    assert.ok(fileSync < renamed, 'the new file was renamed over the state file before its data was synced');
    assert.ok(renamed < dirSync, 'the folder was synced before the rename');
    assert.ok(dirSync < done, 'the write resolved before the rename was synced to disk');
  });
});
