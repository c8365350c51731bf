// A resize that arrives while another one rolls takes over the roll and finishes it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { makeProvider, until } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('a resize during a resize', { skip }, () => {
  it('the later one completes, every instance at its size, none below the count in service', async (t) => {
    // Each start takes 1 s, so the second resize lands while the first one's replacement starts.
    const provider = makeProvider(t, { env: { LISTEN_DELAY_MS: '1000' }, startTimeout: 5_000 });
    await provider.scaleTo(2);
    let minReady = 2;
    provider.on('change', () => {
      minReady = Math.min(minReady, provider.instances().filter((i) => i.state === 'ready').length);
    });
    const first = provider.resize({ cpu: 0.5 });
    first.catch(() => {});
    await until(provider, () => provider.instances().some((i) => i.state === 'starting'));
    const started = performance.now();
    await provider.resize({ cpu: 0.25 });
    t.diagnostic(`second resize done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // Taken over, not failed: the controller logs it as such, not as an error.
    await assert.rejects(first, { code: 'RESIZE_SUPERSEDED' });
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 2, JSON.stringify(provider.instances()));
    assert.ok(
      ready.every((i) => i.size?.cpu === 0.25),
      JSON.stringify(ready),
    );
    assert.deepEqual(provider.size(), { cpu: 0.25 });
    assert.ok(minReady >= 2, `ready instances fell to ${minReady}`);
  });
});
