// The library examples README points to run as written, against the real servers, and do what their
// comments say: a stale example is the first thing a new user meets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runNode } from '../helpers/cli-process.js';

describe('examples', { timeout: 120_000 }, () => {
  it('cache-aside: cold from PostgreSQL, warm from memory, null cached for an unknown id, a rename evicts', async () => {
    const { code, stdout, stderr } = await runNode(['--import', 'tsx', 'examples/cache-aside/get-user.ts']);
    assert.equal(code, 0, `exit code 0 (stderr: ${stderr})`);
    const lines = stdout.trim().split('\n');
    assert.match(
      lines[0] ?? '',
      /^cold \(PostgreSQL\): \{"id":1,"name":"Ada.*createdAt is a Date: true$/,
      'the cold read',
    );
    assert.match(
      lines[1] ?? '',
      /^warm \(memory tier\): \{"id":1,.*createdAt is a Date: true$/,
      'the warm read',
    );
    assert.equal(lines[2], 'unknown id: null', 'the unknown id');
    assert.equal(lines[3], 'after rename: Ada Lovelace', 'the read after the rename');
  });

  it('queue-workers: two bursts (300, 150) scale the workers 0 → N → 0 and every job is handled', async () => {
    const { code, stdout, stderr } = await runNode([
      '--import',
      'tsx',
      'examples/queue-workers/scale-on-depth.ts',
    ]);
    assert.equal(code, 0, `exit code 0 (stderr: ${stderr})`);
    const ticks = [...stdout.matchAll(/workers (\d+) -> (\d+) .* handled=(\d+)$/gm)].map((m) => ({
      from: Number(m[1]),
      to: Number(m[2]),
      handled: Number(m[3]),
    }));
    assert.equal(ticks.length, 20, `20 ticks printed:\n${stdout}`);
    assert.ok(
      ticks.some((t) => t.to > 1),
      `the backlog scaled the workers out:\n${stdout}`,
    );
    assert.equal(ticks.at(-1)?.to, 0, `back to 0 workers at the end:\n${stdout}`);
    assert.equal(ticks.at(-1)?.handled, 450, `every job handled:\n${stdout}`);
  });
});
