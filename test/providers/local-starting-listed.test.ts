// instances() lists an instance from the moment it is decided, also while it has no process yet
// (waiting for its port, the HA fence, its cgroup), as `starting` without a pid, and says so with a
// `change`. Before, it was left out until spawned, so status and the API showed fewer instances
// than the group had while one started.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LocalProvider } from '../../src/providers/index.js';
import { freePort } from '../helpers/ports.js';
import { makeProvider, until } from './local-helpers.js';

/** gatedPorts: after `hold()` the next port lookup waits for `open()`; hold resolves once one waits. */
function gatedPorts() {
  let gate: Promise<void> | undefined;
  let open = () => {};
  let held = () => {};
  return {
    find: async () => {
      const waiting = gate;
      gate = undefined;
      if (waiting) {
        held();
        await waiting;
      }
      return freePort();
    },
    hold(): Promise<void> {
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

const describeList = (provider: LocalProvider) =>
  provider
    .instances()
    .map((i) => `${i.id}:${i.state}:pid ${i.pid ?? '-'}`)
    .join(', ');

describe('local instances() lists instances that have no process yet', () => {
  it('one waiting for its port is listed starting, without a pid, and a change says so', async (t) => {
    const ports = gatedPorts();
    const provider = makeProvider(t, {}, { freePort: ports.find });
    t.after(() => ports.open());
    await provider.scaleTo(1);
    const waiting = ports.hold();
    let changes = 0;
    provider.on('change', () => changes++);
    const scaled = provider.scaleTo(2);
    await waiting;
    const list = provider.instances();
    assert.equal(list.length, 2, `listed: ${describeList(provider)}`);
    const starting = list[1]!;
    assert.equal(starting.state, 'starting', `listed: ${describeList(provider)}`);
    assert.equal(starting.pid, undefined, `listed: ${describeList(provider)}`);
    assert.ok(changes > 0, 'no change was emitted when it was listed');
    ports.open();
    await scaled;
    const after = provider.instances();
    assert.equal(after.length, 2, `listed: ${describeList(provider)}`);
    assert.equal(after[1]!.id, starting.id, 'the starting instance listed is the one that started');
    assert.ok(after[1]!.pid !== undefined, `no pid once ready: ${describeList(provider)}`);
  });

  it('one scaled in before it ran leaves the list, and a change says so', async (t) => {
    const ports = gatedPorts();
    const provider = makeProvider(t, {}, { freePort: ports.find });
    t.after(() => ports.open());
    await provider.scaleTo(1);
    const waiting = ports.hold();
    const scaled = provider.scaleTo(2);
    await waiting;
    assert.equal(provider.instances().length, 2, `listed: ${describeList(provider)}`);
    const back = provider.scaleTo(1);
    // Gone from the list at once: it will never run.
    assert.equal(provider.instances().length, 1, `listed after the scale-in: ${describeList(provider)}`);
    const left = until(provider, () => provider.instances().length === 1);
    ports.open();
    await Promise.all([scaled, back, left]);
    assert.equal(provider.instances().length, 1, `listed: ${describeList(provider)}`);
  });
});
