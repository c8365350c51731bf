// replace (an instance failing its health checks) during a rolling resize rides the roll, as a
// ReplicaSet replaces a failing pod mid-rollout: the failing instance is the next one the roll
// stops, once the roll's own surge instance is ready, so the group never has fewer ready than
// desired nor more than one instance on top. Before, replace answered BUSY for the whole roll
// (minutes for a slow one) and the controller tried again only after another replace_after.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCgroups, type LocalProvider } from '../../src/providers/index.js';
import { freePort } from '../helpers/ports.js';
import { makeProvider } from './local-helpers.js';

/**
 * gatedPorts finds ports as usual, except that after `hold(pass)` the lookup after the next `pass`
 * ones (an instance about to start) waits until `open()`; `hold` resolves once one waits there.
 */
function gatedPorts() {
  let pass = 0;
  let gate: Promise<void> | undefined;
  let open = () => {};
  let held = () => {};
  return {
    find: async () => {
      if (gate !== undefined && pass-- <= 0) {
        const waiting = gate;
        gate = undefined;
        held();
        await waiting;
      }
      return freePort();
    },
    hold(passFirst = 0): Promise<void> {
      pass = passFirst;
      gate = new Promise((resolve) => {
        open = resolve;
      });
      return new Promise((resolve) => {
        held = resolve;
      });
    },
    open: () => open(),
  };
}

/** watch records, at every change, the fewest ready, the most running, and the order instances drained. */
function watch(provider: LocalProvider) {
  const seen = { fewestReady: Number.POSITIVE_INFINITY, mostLive: 0, drained: [] as string[], at: '' };
  provider.on('change', () => {
    const list = provider.instances();
    const ready = list.filter((i) => i.state === 'ready').length;
    // Every process that runs: a draining or stopping one holds its memory and CPU too.
    const live = list.filter((i) => i.state !== 'failed').length;
    const draining = list.filter((i) => i.state === 'draining');
    if (draining.length > 0 && ready < seen.fewestReady) {
      seen.fewestReady = ready;
      seen.at = list.map((i) => `${i.id}:${i.state}`).join(', ');
    }
    seen.mostLive = Math.max(seen.mostLive, live);
    for (const i of draining) if (!seen.drained.includes(i.id)) seen.drained.push(i.id);
  });
  return seen;
}

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('local replace during a rolling resize', { skip }, () => {
  it('is not refused: the failing instance is the next one the roll replaces', async (t) => {
    const ports = gatedPorts();
    const provider = makeProvider(t, {}, { freePort: ports.find, size: { cpu: 1 } });
    await provider.scaleTo(3);
    const [first, , victim] = provider.instances();
    const seen = watch(provider);
    // The roll's first replacement waits at the gate: the roll is running, slowly.
    const waiting = ports.hold();
    const resized = provider.resize({ cpu: 0.5 });
    await waiting;
    const replaced = provider.replace(victim!.id).catch((err: Error & { code?: string }) => err);
    // Nothing may go while the roll's replacement cannot start.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      seen.drained,
      [],
      `drained before any replacement was ready: ${seen.drained.join(', ')}`,
    );
    ports.open();
    const result = await replaced;
    assert.ok(!(result instanceof Error), `replace during a resize failed: ${(result as Error).message}`);
    assert.match(result.detail, /resize rolling meanwhile replaced/);
    assert.equal(
      seen.drained[0],
      victim!.id,
      `the roll's first stop was not the failing instance (drained in order: ${seen.drained.join(', ')}; oldest was ${first!.id})`,
    );
    await resized;
    const after = provider.instances();
    assert.equal(after.length, 3, `instances after: ${after.map((i) => i.id).join(', ')}`);
    assert.ok(
      after.every((i) => i.state === 'ready' && i.size?.cpu === 0.5),
      `not all ready at the new size: ${after.map((i) => `${i.id}:${i.state}:${i.size?.cpu}`).join(', ')}`,
    );
    assert.ok(seen.fewestReady >= 3, `only ${seen.fewestReady} ready while one drained (${seen.at})`);
    assert.ok(seen.mostLive <= 4, `${seen.mostLive} live at once: more than the one surge`);
  });

  it('a victim the roll already replaced goes in place of an outdated one, never beside a surge', async (t) => {
    const ports = gatedPorts();
    const provider = makeProvider(t, {}, { freePort: ports.find, size: { cpu: 1 } });
    await provider.scaleTo(2);
    const seen = watch(provider);
    // The roll's first replacement starts; its second waits at the gate.
    const waiting = ports.hold(1);
    const resized = provider.resize({ cpu: 0.5 });
    await waiting;
    const list = () => provider.instances().map((i) => `${i.id}:${i.state}:${i.size?.cpu}`);
    const fresh = provider.instances().find((i) => i.state === 'ready' && i.size?.cpu === 0.5);
    assert.ok(fresh, `no replacement at the new size ready yet: ${list().join(', ')}`);
    const replaced = provider.replace(fresh.id).catch((err: Error & { code?: string }) => err);
    ports.open();
    const result = await replaced;
    assert.ok(!(result instanceof Error), `replace during a resize failed: ${(result as Error).message}`);
    assert.match(result.detail, /resize rolling meanwhile replaced/);
    await resized;
    const after = provider.instances();
    assert.ok(!after.some((i) => i.id === fresh.id), `${fresh.id} still runs: ${list().join(', ')}`);
    assert.equal(after.length, 2, `instances after: ${list().join(', ')}`);
    assert.ok(
      after.every((i) => i.state === 'ready' && i.size?.cpu === 0.5),
      `not all ready at the new size: ${list().join(', ')}`,
    );
    assert.ok(seen.fewestReady >= 2, `only ${seen.fewestReady} ready while one drained (${seen.at})`);
    assert.ok(seen.mostLive <= 3, `${seen.mostLive} running at once: more than the one surge`);
  });
});
