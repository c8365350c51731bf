// A rolling resize stops an old instance only while the others ready make the desired count
// without it, as a Deployment with maxUnavailable 0 does: the count in service never drops below
// what the group should have. Before, an old instance was stopped as soon as the one replacement
// the roll had started was ready, whatever else had happened meanwhile: an old instance that
// crashed mid-roll, or a scale-out the autoscaler made mid-roll, left the group one ready instance
// short (1 of 2, 2 of 3) while the instance that makes the count up was still starting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LocalProvider } from '../../src/providers/index.js';
import { detectCgroups } from '../../src/providers/index.js';
import { httpGet, makeProvider, until } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

/**
 * watchDrains records, each time an instance of `old` starts draining, how many instances are
 * ready then (it not counted) and the desired count.
 */
function watchDrains(provider: LocalProvider, old: readonly string[]): string[] {
  const seen = new Set<string>();
  const short: string[] = [];
  provider.on('change', () => {
    const list = provider.instances();
    const ready = list.filter((i) => i.state === 'ready').length;
    for (const i of list) {
      if (i.state !== 'draining' || !old.includes(i.id) || seen.has(i.id)) continue;
      seen.add(i.id);
      if (ready < provider.desired())
        short.push(`${i.id} drained with ${ready} ready of ${provider.desired()} desired`);
    }
  });
  return short;
}

describe('a rolling resize keeps the desired count ready', { skip }, () => {
  it('an old instance that crashes mid-roll: the next old one waits for its replacement too', async (t) => {
    // Each start takes 1 s: the crash lands while the roll's first replacement starts.
    const provider = makeProvider(t, { env: { LISTEN_DELAY_MS: '1000' }, startTimeout: 10_000 });
    await provider.scaleTo(2);
    const old = provider.instances().map((i) => i.id);
    const short = watchDrains(provider, old);
    const resized = provider.resize({ cpu: 0.5 });
    await until(provider, () => provider.instances().some((i) => i.state === 'starting'));
    const victim = provider.instances().find((i) => i.id === old[0])!;
    await httpGet(victim.address, '/crash').catch(() => undefined);
    await resized;
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 2, `ready after the roll: ${JSON.stringify(provider.instances())}`);
    assert.ok(
      ready.every((i) => i.size?.cpu === 0.5),
      `sizes after the roll: ${JSON.stringify(ready.map((i) => i.size))}`,
    );
    assert.deepEqual(short, [], short.join('; '));
  });

  it('a scale-out mid-roll: no old instance stops before the new count is ready', async (t) => {
    const provider = makeProvider(t, { env: { LISTEN_DELAY_MS: '1000' }, startTimeout: 10_000 });
    await provider.scaleTo(2);
    const old = provider.instances().map((i) => i.id);
    const short = watchDrains(provider, old);
    const resized = provider.resize({ cpu: 0.5 });
    await until(provider, () => provider.instances().some((i) => i.state === 'starting'));
    await Promise.all([resized, provider.scaleTo(3)]);
    const ready = provider.instances().filter((i) => i.state === 'ready');
    assert.equal(ready.length, 3, `ready after the roll: ${JSON.stringify(provider.instances())}`);
    assert.ok(
      ready.every((i) => i.size?.cpu === 0.5),
      `sizes after the roll: ${JSON.stringify(ready.map((i) => i.size))}`,
    );
    assert.deepEqual(short, [], short.join('; '));
  });
});
