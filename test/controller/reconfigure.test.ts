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

/**
 * SlowProvider's desired() moves only once its scaleTo is released, as AWS's does after a fresh
 * poll: a reload arriving meanwhile sees the old count.
 */
class SlowProvider extends MemoryProvider {
  gate: Promise<void> | undefined;
  override async scaleTo(n: number): Promise<void> {
    if (this.gate) await this.gate;
    return super.scaleTo(n);
  }
}

async function setup(t: TestContext) {
  const journal = new DecisionJournal();
  const provider = new SlowProvider('web');
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

  it('during a scale to 5, a max lowered to 3 ends at 3, not 5', async (t) => {
    // Before: the reload fitted the provider's count (1, the scale not yet written) inside 1..3 and
    // changed nothing; the scale to 5 then went through, 5 instances above max_instances 3.
    const { controller, provider, reload } = await setup(t);
    let release = () => {};
    provider.gate = new Promise((resolve) => (release = resolve));
    controller.group('web').scale('set', 5, 0);
    const [entry] = reload({ minInstances: 1, maxInstances: 3 });
    release();
    // Both scaleTo calls awaited the gate before this: they run, in order, before this line resumes.
    await provider.gate;
    assert.deepEqual(
      [entry?.before, entry?.after],
      [5, 3],
      'the reload fits the count the scale is heading to',
    );
    assert.equal(
      provider.desired(),
      3,
      `the group ends inside the new bounds (calls ${provider.calls.join(', ')})`,
    );
  });
});
