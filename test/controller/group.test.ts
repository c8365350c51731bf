import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PENDING_REISSUE_MS } from '../../src/controller/group.js';
import {
  DecisionJournal,
  FileState,
  GroupController,
  type JournalEntry,
  OutOfRangeError,
  persistDecisions,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { ProviderError } from '../../src/providers/index.js';
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
    // Held by the stabilization window, no longer by max: said once (the blocked-at-max alert resolves on it).
    const released = group.evaluate(5_000);
    assert.deepEqual([released?.before, released?.after], [4, 4]);
    assert.ok(
      released?.reasons.includes('ScaleDownStabilized'),
      "released?.reasons.includes('ScaleDownStabilized')",
    );
    assert.ok(
      !released?.reasons.includes('TooManyReplicas'),
      "!released?.reasons.includes('TooManyReplicas')",
    );
    assert.equal(group.evaluate(6_000), undefined, 'the release is journaled once');
    const back = group.evaluate(14_001);
    assert.deepEqual([back?.before, back?.after], [4, 1]);
    assert.ok(back?.reasons.includes('BelowTarget'), "back?.reasons.includes('BelowTarget')");
    assert.deepEqual(
      journal.entries().map((e) => e.source),
      ['startup', 'policy', 'policy', 'policy', 'policy', 'policy'],
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

  it('a manual request for the count the group has is journaled as changing nothing, not as a scaling', async () => {
    // `scale web 2` at 2 read `2 → 2: set by ops through the control API  [ManualScale]`.
    const { group, provider, journal } = setup({ value: 50 });
    await group.start(0);
    assert.deepEqual(group.scale('set', 2, 1_000, 'ops'), { previous: 1, desired: 2 });
    assert.deepEqual(group.scale('set', 2, 2_000, 'ops'), { previous: 2, desired: 2 });
    assert.equal(provider.desired(), 2);
    const manual = journal.entries().filter((e) => e.source === 'api');
    assert.deepEqual(
      manual.map((e) => [e.before, e.after, e.reasons]),
      [
        [1, 2, ['ManualScale']],
        [2, 2, ['ManualScaleUnchanged']],
      ],
      'the second request is journaled with its own reason, not ManualScale',
    );
    const noop = manual[1]!;
    assert.ok(!noop.message.includes('→'), `a no-op reads as a change: ${noop.message}`);
    assert.match(noop.message, /^set by ops through the control API: already 2, nothing changed$/);
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

  it('a scale the provider refuses is journaled as failed, and the persisted count is what runs', async (t) => {
    // Before: the journal said 1 → 2 (policy) and 1 → 3 (api), the state store kept 3 as the
    // group's count, and nothing said that the provider had refused both: desired stayed 1.
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-scalefail-'));
    const cpu = { value: 100 };
    const { group, provider, journal } = setup(cpu);
    const state = new FileState({ path: join(dir, 'state.json') });
    const stop = persistDecisions(
      journal,
      state,
      () => true,
      (err) => assert.fail(String(err)),
    );
    t.after(async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    });
    await group.start(0);
    const refuse = async () => {
      throw new ProviderError('API_ERROR', 'apiserver: 500 Internal Server Error');
    };
    provider.scaleTo = refuse;
    const failed = () =>
      new Promise<[JournalEntry]>((resolve) => {
        const listener = (e: JournalEntry) => {
          if (!e.reasons.includes('ScaleFailed')) return;
          journal.off('entry', listener);
          resolve([e]);
        };
        journal.on('entry', listener);
      });

    let next = failed();
    assert.equal(group.evaluate(1_000)?.after, 2);
    const [policy] = await next;
    assert.deepEqual(
      [policy.source, policy.before, policy.after, policy.reasons],
      ['policy', 2, 1, ['ScaleFailed']],
    );
    assert.match(policy.message, /scale to 2 failed: apiserver: 500 .*desired count is 1/);
    assert.equal(policy.inputs.code, 'API_ERROR');

    next = failed();
    group.scale('set', 3, 2_000, 'ops');
    const [api] = await next;
    assert.deepEqual([api.source, api.before, api.after, api.reasons], ['api', 3, 1, ['ScaleFailed']]);
    assert.ok(Date.parse(api.time) >= 2_000, 'Date.parse(api.time) >= 2_000');

    await stop();
    const saved = await state.load();
    assert.equal(saved.desired.web, 1, 'the persisted count is the one that runs');
    assert.deepEqual(
      saved.journal.map((e) => `${e.source}:${e.before}->${e.after}:${e.reasons[0]}`),
      [
        'startup:0->1:InitialInstances',
        'policy:1->2:AboveTarget',
        'policy:2->1:ScaleFailed',
        'api:1->3:ManualScale',
        'api:3->1:ScaleFailed',
      ],
    );
  });

  it('a provider call that does not answer is not asked again every tick, nor journaled again', async () => {
    // Before: with scaleTo hanging (an API server that stopped answering) and desired still 1, ten
    // ticks journaled "1 → 2" ten times and left ten scaleTo calls hanging.
    const { group, provider, journal } = setup({ value: 100 });
    await group.start(0);
    const hung: (() => void)[] = [];
    provider.scaleTo = (n: number) => {
      provider.calls.push(n);
      return new Promise<void>((resolve) => hung.push(resolve));
    };
    for (let tick = 1; tick <= 10; tick++) group.evaluate(tick * 15_000);
    assert.deepEqual(provider.calls, [1, 2], 'one call for 2, not ten');
    const scalings = () => journal.entries().filter((e) => e.source === 'policy');
    assert.deepEqual(
      scalings().map((e) => `${e.before}->${e.after}`),
      ['1->2'],
    );

    // Still not answered long after: asked again (a call that never ends must not block the group).
    group.evaluate(15_000 + PENDING_REISSUE_MS);
    assert.deepEqual(provider.calls, [1, 2, 2]);
    // Once the calls end without the change taking (desired still 1), the next tick asks again.
    for (const resolve of hung.splice(0)) resolve();
    await new Promise((resolve) => setImmediate(resolve));
    group.evaluate(30_000 + PENDING_REISSUE_MS);
    assert.deepEqual(provider.calls, [1, 2, 2, 2]);
    // Journaled each time it was asked: three times, counted in one entry (a repeat, see DecisionJournal).
    assert.deepEqual(
      scalings().map((e) => `${e.before}->${e.after}×${e.count ?? 1}`),
      ['1->2×3'],
    );
  });

  it('a restored or adopted count outside min..max is journaled with the bound that moved it', async () => {
    const start = async (restored: number | undefined, running: number) => {
      const provider = new MemoryProvider('web');
      await provider.scaleTo(running);
      const journal = new DecisionJournal();
      const group = new GroupController({
        config: groupConfig({ minInstances: 3, maxInstances: 5, initialInstances: 3 }),
        provider,
        journal,
        metrics: createMetrics({ defaultMetrics: false }),
        logger: silent,
        readMetrics: () => [],
      });
      await group.start(0, restored);
      const [entry] = journal.entries();
      return [entry!.before, entry!.after, entry!.reasons, entry!.message, provider.desired()];
    };
    assert.deepEqual(await start(1, 1), [
      1,
      3,
      ['Restored', 'TooFewReplicas'],
      '1 → 3: restored desired count 1, raised to min_instances 3',
      3,
    ]);
    assert.deepEqual(await start(undefined, 7), [
      7,
      5,
      ['Adopted', 'TooManyReplicas'],
      '7 → 5: adopted what runs 7, lowered to max_instances 5',
      5,
    ]);
    assert.deepEqual(await start(4, 4), [4, 4, ['Restored'], '4 → 4: restored desired count', 4]);
    assert.deepEqual(await start(undefined, 0), [0, 3, ['InitialInstances'], '0 → 3: initial_instances', 3]);
  });
});
