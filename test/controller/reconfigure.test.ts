// Controller.reconfigure (a config reload) on a leader and on a standby: the leader brings the count
// inside new bounds; a standby takes the bounds but scales nothing and journals no change of count.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Config } from '../../src/config/types.js';
import { Controller, DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

async function setup(t: TestContext) {
  const journal = new DecisionJournal();
  const provider = new MemoryProvider('web');
  const web = groupConfig({ name: 'web', maxInstances: 10 });
  const group = new GroupController({
    config: web,
    provider,
    journal,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silent,
    readMetrics: () => [],
  });
  const config = { controller: { interval: 60_000 }, groups: { web } } as unknown as Config;
  const controller = new Controller({ config, groups: [group], journal, logger: silent, backends: () => [] });
  await controller.start();
  t.after(() => controller.close());
  const reload = (bounds: { minInstances: number; maxInstances: number }) =>
    controller.reconfigure(
      { ...config, groups: { web: { ...web, ...bounds } } },
      { by: 'SIGHUP', changes: ['groups.web.min_instances'] },
    );
  return { controller, provider, journal, reload };
}

describe('Controller.reconfigure', () => {
  it('on the leader, a min above the count scales out, journaled as the reload', async (t) => {
    const { provider, reload } = await setup(t);
    const [entry] = reload({ minInstances: 3, maxInstances: 10 });
    assert.deepEqual([entry?.before, entry?.after], [1, 3]);
    assert.deepEqual(provider.calls, [1, 3]);
  });

  it('on a standby, the bounds are taken but nothing is scaled and the journal changes no count', async (t) => {
    // Before: a SIGHUP sent to every replica made each standby journal "0 → 3 to fit 3..10" (its
    // local groups show desired 0) and call its provider's scaleTo(3), which the fence refuses.
    const { controller, provider, reload } = await setup(t);
    await provider.scaleTo(0); // what a standby's local group shows: it manages no instance
    controller.standBy('other-host/1@127.0.0.1:9000');
    const calls = provider.calls.length;
    const [entry] = reload({ minInstances: 3, maxInstances: 10 });
    assert.equal(provider.calls.length, calls, 'a standby calls no scaleTo');
    assert.deepEqual([entry?.before, entry?.after], [0, 0]);
    assert.match(entry?.message ?? '', /standing by: the leader fits the count/);
    assert.equal(controller.group('web').config.minInstances, 3, 'the new bounds are taken');
  });

  it('once closed (shutting down), the bounds are taken but nothing is scaled', async (t) => {
    // Before: a reload that reached a closed controller scaled out 1 → 3 while the shutdown drained.
    const { controller, provider, reload } = await setup(t);
    controller.close();
    const calls = provider.calls.length;
    const [entry] = reload({ minInstances: 3, maxInstances: 10 });
    assert.equal(provider.calls.length, calls, 'a closed controller calls no scaleTo');
    assert.deepEqual([entry?.before, entry?.after], [1, 1]);
  });
});
