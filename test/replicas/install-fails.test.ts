// A failed bootstrap (mariadb-install-db) must stop mariadb-replica.sh with its own message. It runs
// in an `||` list, where `set -e` does not apply: the script went on to start a server on a folder
// without system tables, and a full test run saw only `Access denied for user 'root'` (or, for a
// primary, "not ready after 60 s"). A shim on PATH stands in for the bootstrap that fails; private
// ports 3395/3396, nothing listens there afterwards.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { privateMariadbPair } from './private-mariadb.js';

describe('mariadb-replica.sh when mariadb-install-db fails', { timeout: 240_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('stops with a message naming the bootstrap, starts no server and leaves no half-made folder', async () => {
    const shims = await mkdtemp(join(tmpdir(), 'sp-install-shim-'));
    cleanups.push(() => rm(shims, { recursive: true, force: true }));
    const shim = join(shims, 'mariadb-install-db');
    await writeFile(
      shim,
      '#!/bin/sh\necho "ERROR: 1051  Unknown table \'mysql.tmp_user_sys\'" >&2\nexit 1\n',
    );
    await chmod(shim, 0o755);
    const pair = await privateMariadbPair('install-fails', 3395, 3396);
    cleanups.push(() => pair.down());

    const failure = await pair.run(['up'], { PATH: `${shims}:${process.env.PATH}` }).then(
      () => assert.fail('up succeeded with a bootstrap that fails'),
      (error: { stderr?: string }) => error,
    );
    assert.match(failure.stderr ?? '', /mariadb-install-db failed for \S+\/3395/, failure.stderr);
    assert.doesNotMatch(failure.stderr ?? '', /starting mariadbd/, failure.stderr);
    const dataDir = join(pair.env.SCALEPLANE_MARIADB_DIR!, '3395');
    assert.equal(existsSync(join(dataDir)), false, `${dataDir} was left behind`);
  });
});
