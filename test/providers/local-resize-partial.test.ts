// A resize names what changes: `scaleplane resize web cpu=1` on a group with a memory limit keeps
// that limit, as `kubectl set resources --limits=cpu=1` (a strategic merge patch of the container's
// resources) does, and as this project's Kubernetes provider does. Before, the local provider took
// the resize for the whole size: every instance was replaced by one with no memory limit at all,
// the configured `resources.memory` (or an earlier resize's) silently gone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCgroups, readLimits } from '../../src/providers/local/index.js';
import { makeProvider } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
const MiB = 2 ** 20;

describe('local provider: a resize of cpu alone, or memory alone', { skip }, () => {
  it('keeps the other limit in force, from the config or an earlier resize', async (t) => {
    const provider = makeProvider(t, {}, { size: { memory: 256 * MiB } });
    await provider.start();
    await provider.scaleTo(1);
    await provider.resize({ cpu: 0.5 });
    assert.deepEqual(provider.size(), { cpu: 0.5, memory: 256 * MiB }, 'the size in force');
    const [first] = provider.instances();
    assert.deepEqual(
      first?.size,
      { cpu: 0.5, memory: 256 * MiB },
      'the replacement runs without its memory limit',
    );
    assert.deepEqual(readLimits(first!.pid!, layout!.version), { cpu: 0.5, memory: 256 * MiB });
    await provider.resize({ memory: 192 * MiB });
    const [second] = provider.instances();
    assert.deepEqual(second?.size, { cpu: 0.5, memory: 192 * MiB }, 'a memory resize dropped the cpu limit');
    assert.deepEqual(readLimits(second!.pid!, layout!.version), { cpu: 0.5, memory: 192 * MiB });
  });
});
