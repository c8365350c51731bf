// Controller roles: a standby refuses changes (NotLeaderError), a starting controller refuses them
// until it has adopted what runs (StartingError) — so a change never counts from an empty group —
// and a restored desired count wins over what runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  NotLeaderError,
  StartingError,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

/** AdoptingProvider finds `running` instances when started, once `adopt()` lets it finish. */
class AdoptingProvider extends MemoryProvider {
  adopt!: () => void;
  readonly adopted = new Promise<void>((resolve) => {
    this.adopt = resolve;
  });
  constructor(readonly running: number) {
    super('web');
  }
  async start(): Promise<void> {
    await this.adopted;
    // What an earlier controller left running, found without a scaleTo of ours.
    if (this.desired() === 0) {
      await super.scaleTo(this.running);
      this.calls.length = 0;
    }
  }
}

function setup(provider: MemoryProvider) {
  const group = groupConfig({ minInstances: 1, maxInstances: 6 });
  const journal = new DecisionJournal();
  const controller = new Controller({
    config: {
      controller: { interval: 60_000, journalSize: 100 },
      groups: { web: group },
    } as unknown as Config,
    journal,
    logger: silent,
    backends: () => [],
    groups: [
      new GroupController({
        config: group,
        provider,
        journal,
        metrics: createMetrics({ defaultMetrics: false }),
        logger: silent,
        readMetrics: () => [],
      }),
    ],
  });
  return { controller, journal };
}

describe('controller roles', () => {
  it('refuses changes while standing by and while adopting; a restored count is applied after adoption', async () => {
    const provider = new AdoptingProvider(3);
    const { controller, journal } = setup(provider);
    controller.standBy('leader-x');
    assert.equal(controller.leading, false);
    assert.throws(
      () => controller.scale('web', 'scale-out', 1),
      (err: unknown) => err instanceof NotLeaderError && err.leader === 'leader-x',
    );

    const started = controller.start({ web: 4 });
    assert.throws(() => controller.scale('web', 'scale-out', 1), StartingError);
    assert.deepEqual(provider.calls, [], 'nothing was scaled from the empty group');
    provider.adopt();
    await started;
    assert.equal(controller.leading, true);
    assert.equal(provider.desired(), 4, 'the restored count, reached from the 3 adopted');
    assert.deepEqual(provider.calls, [4]);
    const startup = journal.entries().at(-1)!;
    assert.deepEqual([startup.before, startup.after, startup.reasons], [3, 4, ['Restored']]);

    // `stored` confirms the state store write (none here): see test/integration/api-durable.test.ts.
    const { stored, ...scaled } = controller.scale('web', 'scale-out', 1);
    assert.deepEqual(scaled, { previous: 4, desired: 5 });
    await stored.confirm(1_000);
    controller.close();
  });
});
