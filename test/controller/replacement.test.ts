import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DecisionJournal,
  InstanceHealthWatch,
  type ReplacementInput,
  type ReplacementReason,
  replacementDecision,
} from '../../src/controller/index.js';
import { ProviderError, type ReplaceResult } from '../../src/providers/index.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

const base: ReplacementInput = {
  unhealthySince: 0,
  now: 30_000,
  replaceAfter: 30_000,
  total: 3,
  usable: 2,
  panicThreshold: 50,
  replacing: false,
  canReplace: true,
};

describe('replacementDecision', () => {
  const cases: [string, Partial<ReplacementInput>, ReplacementReason][] = [
    ['healthy instance', { unhealthySince: undefined }, 'Healthy'],
    ['replacement off', { replaceAfter: 0 }, 'ReplaceDisabled'],
    ['1 ms before the grace ends', { now: 29_999 }, 'WithinGrace'],
    ['exactly at the grace', {}, 'ReplaceUnhealthy'],
    ['no usable instance left', { usable: 0 }, 'HeldPanic'],
    ['below the panic threshold', { total: 5, usable: 2 }, 'HeldPanic'],
    ['exactly at the panic threshold', { total: 4, usable: 2 }, 'ReplaceUnhealthy'],
    ['another replacement running', { replacing: true }, 'ReplacementInProgress'],
    ['provider cannot replace', { canReplace: false }, 'ReplaceUnsupported'],
  ];
  for (const [name, change, reason] of cases) {
    it(`${name} → ${reason}`, () => {
      const decision = replacementDecision({ ...base, ...change });
      assert.equal(decision.reason, reason);
      assert.equal(decision.replace, reason === 'ReplaceUnhealthy');
    });
  }
});

/** A MemoryProvider that can replace: it records the ids and swaps the instance for a new one. */
class ReplacingProvider extends MemoryProvider {
  readonly replaced: string[] = [];
  /** Errors the next replace calls reject with, in order. */
  readonly failures: Error[] = [];
  /** Set by a test: what the provider says when asked to put an instance back. */
  returnToService?: (id: string) => Promise<boolean>;
  async replace(id: string): Promise<ReplaceResult> {
    this.replaced.push(id);
    const failure = this.failures.shift();
    if (failure) throw failure;
    const n = this.desired();
    await this.scaleTo(n + 1);
    const rest = this.instances().filter((i) => i.id !== id);
    (this as unknown as { instances(): unknown }).instances = () => rest;
    this.emit('change');
    return { method: 'memory', detail: `${id} swapped in memory` };
  }
}

describe('InstanceHealthWatch', () => {
  async function setup(count: number) {
    const provider = new ReplacingProvider('web');
    await provider.scaleTo(count);
    const journal = new DecisionJournal();
    const clock = { now: 1_000 };
    const unhealthy = new Set<string>();
    const watch = new InstanceHealthWatch({
      journal,
      provider: (group) => (group === 'web' ? provider : undefined),
      backends: () =>
        provider
          .instances()
          .map((i) => ({ id: i.id, healthy: !unhealthy.has(i.id), ejected: false, draining: false })),
      replaceAfter: 30_000,
      panicThreshold: 50,
      logger: silent,
      now: () => clock.now,
    });
    const fail = (id: string) => {
      unhealthy.add(id);
      watch.onHealth({ group: 'web', id, address: '127.0.0.1:1', healthy: false, detail: '503' });
    };
    return { provider, journal, clock, watch, fail, unhealthy };
  }

  it('journals health transitions, ejections and recoveries with the group count unchanged', async () => {
    const { journal, watch, fail } = await setup(2);
    fail('web-1');
    watch.onHealth({ group: 'web', id: 'web-1', address: '127.0.0.1:1', healthy: true, detail: '200' });
    watch.onEjection({
      group: 'web',
      id: 'web-2',
      address: '127.0.0.1:2',
      reason: 'Consecutive5xx',
      duration: 30_000,
      ejections: 1,
    });
    watch.onRecovery({ group: 'web', id: 'web-2', address: '127.0.0.1:2' });
    const entries = journal.entries();
    assert.deepEqual(
      entries.map((e) => [e.source, e.reasons[0], e.inputs.instance, e.before, e.after]),
      [
        ['health', 'InstanceUnhealthy', 'web-1', 2, 2],
        ['health', 'InstanceHealthy', 'web-1', 2, 2],
        ['health', 'OutlierEjected', 'web-2', 2, 2],
        ['health', 'OutlierRecovered', 'web-2', 2, 2],
      ],
    );
    assert.equal(entries[2]!.inputs.trip, 'Consecutive5xx');
  });

  it('replaces an instance failing past the grace, once, and journals it', async () => {
    const { provider, journal, clock, watch, fail } = await setup(3);
    fail('web-2');
    clock.now += 29_999;
    watch.tick();
    assert.deepEqual(provider.replaced, []);
    clock.now += 1;
    watch.tick();
    watch.tick();
    assert.deepEqual(provider.replaced, ['web-2']);
    await new Promise((resolve) => setImmediate(resolve));
    const reasons = journal.entries().map((e) => e.reasons[0]);
    assert.deepEqual(reasons, ['InstanceUnhealthy', 'ReplaceUnhealthy', 'Replaced']);
    assert.ok(
      !provider.instances().some((i) => i.id === 'web-2'),
      "!provider.instances().some((i) => i.id === 'web-2')",
    );
    assert.equal(provider.instances().length, 3);
  });

  it('a refused replacement is journaled with its code and tried again after another grace, not every tick', async () => {
    const { provider, journal, clock, watch, fail } = await setup(3);
    provider.failures.push(new ProviderError('CAPACITY', 'a PodDisruptionBudget allows no disruption now'));
    fail('web-2');
    clock.now += 30_000;
    watch.tick();
    await new Promise((resolve) => setImmediate(resolve));
    const failed = journal.entries().find((e) => e.reasons[0] === 'ReplaceFailed');
    assert.equal(failed?.inputs.code, 'CAPACITY');
    clock.now += 29_999;
    watch.tick();
    assert.deepEqual(provider.replaced, ['web-2'], 'not again within the new grace');
    clock.now += 1;
    watch.tick();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(provider.replaced, ['web-2', 'web-2']);
    // The second ReplaceUnhealthy repeats the first: counted in it, which moves to the end (see
    // DecisionJournal), so it now follows the ReplaceFailed that came between.
    assert.deepEqual(
      journal.entries().map((e) => `${e.reasons[0]}×${e.count ?? 1}`),
      ['InstanceUnhealthy×1', 'ReplaceFailed×1', 'ReplaceUnhealthy×2', 'Replaced×1'],
    );
    assert.equal(journal.entries().at(-1)!.inputs.method, 'memory');
  });

  it('an instance that recovers while its replacement fails is not tried again', async () => {
    const { provider, journal, clock, watch, fail } = await setup(3);
    let reject!: (err: Error) => void;
    provider.replace = async (id: string) => {
      provider.replaced.push(id);
      return new Promise<ReplaceResult>((_, r) => {
        reject = r;
      });
    };
    fail('web-2');
    clock.now += 30_000;
    watch.tick();
    watch.onHealth({ group: 'web', id: 'web-2', address: '127.0.0.1:1', healthy: true, detail: '200' });
    reject(new ProviderError('BUSY', 'busy'));
    await new Promise((resolve) => setImmediate(resolve));
    clock.now += 60_000;
    watch.tick();
    assert.deepEqual(provider.replaced, ['web-2']);
    assert.ok(
      !journal.entries().at(-1)!.message.includes('tried again'),
      "!journal.entries().at(-1)!.message.includes('tried again')",
    );
  });

  it('an instance passing its checks again is put back by its provider; one it cannot tell yet is asked again each tick until then, unless it fails again', async () => {
    const { provider, journal, clock, watch, fail } = await setup(3);
    // Answers of the provider's returnToService, in order (an Error rejects: a read that failed).
    const answers: (boolean | Error)[] = [new Error('DescribeAutoScalingGroups failed'), true];
    const asked: string[] = [];
    provider.returnToService = async (id: string) => {
      asked.push(id);
      const answer = answers.shift() ?? false;
      if (answer instanceof Error) throw answer;
      return answer;
    };
    const pass = (id: string) =>
      watch.onHealth({ group: 'web', id, address: '127.0.0.1:1', healthy: true, detail: '200' });
    const settled = () => new Promise((resolve) => setImmediate(resolve));
    fail('web-2');
    pass('web-2');
    await settled();
    assert.deepEqual(asked, ['web-2']);
    watch.tick();
    await settled();
    assert.deepEqual(asked, ['web-2', 'web-2'], 'asked again on the next tick');
    watch.tick();
    await settled();
    assert.deepEqual(asked, ['web-2', 'web-2'], 'put back: not asked again');
    assert.deepEqual(
      journal.entries().map((e) => e.reasons[0]),
      ['InstanceUnhealthy', 'InstanceHealthy', 'ReturnedToService'],
    );
    // A provider holding nothing answers false: nothing journaled. One that fails again before it
    // could be asked again is not put back.
    answers.push(new Error('read failed'));
    fail('web-3');
    pass('web-3');
    await settled();
    fail('web-3');
    clock.now += 1;
    watch.tick();
    await settled();
    assert.deepEqual(asked, ['web-2', 'web-2', 'web-3']);
    assert.equal(journal.entries().filter((e) => e.reasons[0] === 'ReturnedToService').length, 1);
  });

  it('an instance that recovers while its replacement fails is put back if that replacement drained it', async () => {
    const { provider, journal, clock, watch, fail } = await setup(3);
    let reject!: (err: Error) => void;
    provider.replace = async (id: string) => {
      provider.replaced.push(id);
      return new Promise<ReplaceResult>((_, r) => {
        reject = r;
      });
    };
    const asked: string[] = [];
    provider.returnToService = async (id: string) => {
      asked.push(id);
      return asked.length > 1;
    };
    fail('web-2');
    clock.now += 30_000;
    watch.tick();
    // It passes while the replacement still runs (the provider holds no drain of it yet: false)...
    watch.onHealth({ group: 'web', id: 'web-2', address: '127.0.0.1:1', healthy: true, detail: '200' });
    // ...then the replacement fails, leaving it drained: asked again.
    reject(new ProviderError('CAPACITY', 'a PodDisruptionBudget allows no disruption now'));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(asked, ['web-2', 'web-2']);
    assert.equal(journal.entries().at(-1)!.reasons[0], 'ReturnedToService');
  });

  it('an instance that recovers within the grace is kept', async () => {
    const { provider, clock, watch, fail } = await setup(2);
    fail('web-1');
    clock.now += 10_000;
    watch.onHealth({ group: 'web', id: 'web-1', address: '127.0.0.1:1', healthy: true, detail: '200' });
    clock.now += 60_000;
    watch.tick();
    assert.deepEqual(provider.replaced, []);
  });

  it('holds replacement while every instance fails, and says so once', async () => {
    const { provider, journal, clock, watch, fail } = await setup(2);
    fail('web-1');
    fail('web-2');
    clock.now += 60_000;
    watch.tick();
    watch.tick();
    assert.deepEqual(provider.replaced, []);
    const held = journal.entries().filter((e) => e.reasons[0] === 'HeldPanic');
    assert.equal(held.length, 1);
    assert.equal(held[0]!.inputs.usable, 0);
  });
});
