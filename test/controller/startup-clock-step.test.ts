// Start-up learning compares the instances' `startedAt` (the wall clock: a local process's Date.now,
// a pod's creationTimestamp, an EC2 launch time) with when the controller started. That start was
// taken on the decision clock (src/clock.ts), which a step back of the system clock since the
// process started puts ahead of the wall clock: every instance the controller started then looked
// started before it, and no start-up was ever learnt. The step is made by replacing Date.now, as in
// clock-step.test.ts; performance.now, the monotonic clock, is left alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../../src/config/types.js';
import { Controller, DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import type { Instance } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };
const STEP = 10 * 60_000;
const STARTUP = 1_500;

/** DatedProvider dates each instance by Date.now when first listed, ready STARTUP ms after. */
class DatedProvider extends MemoryProvider {
  readonly #startedAt = new Map<string, number>();

  override instances(): readonly Instance[] {
    return super.instances().map((i) => {
      const startedAt = this.#startedAt.get(i.id) ?? Date.now();
      this.#startedAt.set(i.id, startedAt);
      return { ...i, startedAt, readyAt: startedAt + STARTUP };
    });
  }
}

/** stepWallClock moves Date.now by `ms` until the returned function puts it back. */
function stepWallClock(ms: number): () => void {
  const real = Date.now;
  Date.now = () => real() + ms;
  return () => {
    Date.now = real;
  };
}

describe('start-up learning after a step of the system clock', () => {
  it('back 10 min before the controller starts: its own instances are still measured', async (t) => {
    const restore = stepWallClock(-STEP);
    t.after(restore);
    const journal = new DecisionJournal();
    const provider = new DatedProvider('web');
    const config = groupConfig({
      initialInstances: 2,
      scaling: {
        metrics: [{ type: 'cpu', target: 50 }],
        tolerance: 0.1,
        scaleDownStabilization: 0,
        scaleUpStabilization: 0,
        metricWindow: 30_000,
      },
    });
    const group = new GroupController({
      config,
      provider,
      journal,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: () => [],
    });
    const controller = new Controller({
      config: { controller: { interval: 60_000 }, groups: { web: config } } as unknown as Config,
      groups: [group],
      journal,
      logger: silent,
      backends: () => [],
    });
    await controller.start();
    // The test drives the loop (tick) itself.
    controller.close();
    assert.equal(provider.instances().length, 2, 'the controller started 2 instances');
    controller.tick();
    restore();
    assert.equal(
      group.startup.observed,
      2,
      `the start-ups of the 2 instances it started are observed (${JSON.stringify(group.startup)})`,
    );
    assert.equal(group.startup.learnt, STARTUP, 'their median start-up is learnt');
  });
});
