import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionJournal, GroupController, OutOfRangeError } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

function setup(cpu: { value: number }) {
  const config = groupConfig({
    maxInstances: 4,
    scaling: {
      metrics: [{ type: 'cpu', target: 50 }],
      tolerance: 0.1,
      scaleDownStabilization: 10_000,
      scaleUpStabilization: 0,
      metricWindow: 1_000,
    },
  });
  const provider = new MemoryProvider('web');
  const journal = new DecisionJournal();
  const group = new GroupController({
    config,
    provider,
    journal,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silent,
    readMetrics: (instances) => [{ name: 'cpu', target: 50, values: instances.map(() => cpu.value) }],
  });
  return { group, provider, journal };
}

describe('GroupController', () => {
  it('journals scale-out, a blocked scale-out once, and the stabilized scale-in', async () => {
    const cpu = { value: 100 };
    const { group, provider, journal } = setup(cpu);
    await group.start(0);
    assert.equal(provider.desired(), 1);

    const out = group.evaluate(1_000);
    assert.deepEqual([out?.before, out?.after, out?.reasons[0]], [1, 2, 'AboveTarget']);
    assert.equal(provider.desired(), 2);

    cpu.value = 400; // wants 16, max is 4
    assert.equal(group.evaluate(2_000)?.after, 4);
    const blocked = group.evaluate(3_000);
    assert.deepEqual(blocked?.reasons, ['AboveTarget', 'TooManyReplicas']);
    assert.equal(blocked?.after, 4);
    assert.equal(group.evaluate(4_000), undefined, 'the same blocked decision is journaled once');

    cpu.value = 5;
    assert.equal(group.evaluate(5_000), undefined, 'held by the stabilization window');
    const back = group.evaluate(14_001);
    assert.deepEqual([back?.before, back?.after], [4, 1]);
    assert.ok(back?.reasons.includes('BelowTarget'));
    assert.deepEqual(
      journal.entries().map((e) => e.source),
      ['startup', 'policy', 'policy', 'policy', 'policy'],
    );
  });

  it('a manual scale is the new starting point and is held by the window', async () => {
    const cpu = { value: 50 };
    const { group, provider } = setup(cpu);
    await group.start(0);
    assert.deepEqual(group.scale('scale-out', 2, 1_000), { previous: 1, desired: 3 });
    assert.equal(provider.desired(), 3);
    cpu.value = 10;
    assert.equal(group.evaluate(2_000), undefined);
    assert.equal(group.evaluate(11_001)?.after, 1);
  });

  it('refuses out-of-range manual scaling and changes nothing', async () => {
    const { group, provider, journal } = setup({ value: 50 });
    await group.start(0);
    const before = journal.entries().length;
    assert.throws(() => group.scale('set', 5, 1), OutOfRangeError);
    assert.throws(() => group.scale('scale-in', 1, 1), OutOfRangeError);
    assert.equal(provider.desired(), 1);
    assert.equal(journal.entries().length, before);
  });
});
