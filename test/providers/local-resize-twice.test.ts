// Two resizes back to back: the second, to a size the app cannot run in, fails and must roll back
// to the size in force when it began (the first resize's), not to the size before the first one.
// Reported as a defect; not reproduced (each resize() keeps its own `previous`), so this pins it:
// with the rollback to the first resize's original size it fails (size undefined, not 256 MiB).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { makeProvider, SPIKY, until } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

// The app touches 48 MiB while it starts: fine under 256 MiB, OOM-killed under 32 MiB.
const MIB = 1024 * 1024;

describe('a failed resize after a successful one', { skip }, () => {
  it('rolls back to the size the first resize set', async (t) => {
    const provider = makeProvider(t, { command: SPIKY, crashLoopLimit: 2 });
    await provider.scaleTo(2);
    await provider.resize({ memory: 256 * MIB });
    await assert.rejects(provider.resize({ memory: 32 * MIB }), { code: 'RESIZE_FAILED' });
    assert.deepEqual(provider.size(), { memory: 256 * MIB });
    await provider.scaleTo(3);
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 3);
    assert.ok(
      ready.every((i) => i.size?.memory === 256 * MIB),
      JSON.stringify(ready),
    );
  });

  it('rolls back to the size of a resize still rolling when it began', async (t) => {
    const provider = makeProvider(t, { command: SPIKY, crashLoopLimit: 2 });
    await provider.scaleTo(2);
    const first = provider.resize({ memory: 256 * MIB });
    first.catch(() => {});
    await until(provider, () =>
      provider.instances().some((i) => i.size?.memory === 256 * MIB && i.state === 'ready'),
    );
    await assert.rejects(provider.resize({ memory: 32 * MIB }), { code: 'RESIZE_FAILED' });
    await assert.rejects(first, { code: 'RESIZE_SUPERSEDED' });
    t.diagnostic(`size after: ${JSON.stringify(provider.size())}`);
    assert.deepEqual(provider.size(), { memory: 256 * MIB });
  });
});
