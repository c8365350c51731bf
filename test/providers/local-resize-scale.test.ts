// A scale-in that arrives while a resize rolls takes an outdated instance, not the replacement that
// is starting. Before, it stopped the starting replacement: nothing started another, the resize
// waited out 3 x start_timeout (15 s here) and failed with RESIZE_FAILED, and the scaleTo with it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { makeProvider, until } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('scaling during a resize', { skip }, () => {
  it('a scale-in while a replacement starts: the resize completes, at the new count', async (t) => {
    // Each start takes 1 s, so the scale-in lands while the first replacement is starting.
    const provider = makeProvider(t, { env: { LISTEN_DELAY_MS: '1000' }, startTimeout: 5_000 });
    await provider.scaleTo(3);
    let minReady = 3;
    provider.on('change', () => {
      minReady = Math.min(minReady, provider.instances().filter((i) => i.state === 'ready').length);
    });
    const resized = provider.resize({ cpu: 0.5 });
    await until(provider, () => provider.instances().some((i) => i.state === 'starting'));
    const started = performance.now();
    await Promise.all([resized, provider.scaleTo(2)]);
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`resize + scale-in done in ${seconds.toFixed(1)} s`);
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 2);
    assert.ok(
      ready.every((i) => i.size?.cpu === 0.5),
      'every instance has the new size',
    );
    assert.ok(minReady >= 2, `ready instances fell to ${minReady}`);
  });

  it('a scale-out while a replacement starts: the resize completes, every instance at the new size', async (t) => {
    const provider = makeProvider(t, { env: { LISTEN_DELAY_MS: '1000' }, startTimeout: 5_000 });
    await provider.scaleTo(2);
    let minReady = 2;
    provider.on('change', () => {
      minReady = Math.min(minReady, provider.instances().filter((i) => i.state === 'ready').length);
    });
    const resized = provider.resize({ cpu: 0.5 });
    await until(provider, () => provider.instances().some((i) => i.state === 'starting'));
    await Promise.all([resized, provider.scaleTo(3)]);
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 3, JSON.stringify(provider.instances()));
    assert.ok(
      ready.every((i) => i.size?.cpu === 0.5),
      JSON.stringify(ready),
    );
    assert.ok(minReady >= 2, `ready instances fell to ${minReady}`);
  });
});
