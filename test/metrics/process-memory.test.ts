import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type MemoryTarget, ProcessMemoryWindow } from '../../src/metrics/index.js';
import type { ObservedMetric } from '../../src/policy/index.js';
import { replicasForMetric } from '../../src/policy/replica-calculator.js';
import type { Instance } from '../../src/providers/types.js';

const MIB = 1024 * 1024;

function instance(
  id: string,
  pid: number,
  state: Instance['state'] = 'ready',
  /** null: no memory limit. */
  memory: number | null = 512 * MIB,
): Instance {
  return {
    id,
    group: 'web',
    address: `127.0.0.1:${pid}`,
    state,
    pid,
    startedAt: 0,
    ...(memory !== null && { size: { memory } }),
  };
}

const utilization = (target: number): MemoryTarget => ({ target, targetType: 'Utilization' });
const averageValue = (target: number): MemoryTarget => ({ target, targetType: 'AverageValue' });

/** readOnce samples `bytes` (by pid) at `at` and reads at `now`. */
function readOnce(
  instances: Instance[],
  bytes: Record<number, number>,
  target: MemoryTarget,
  { at = 1_000, now = 1_000, maxAgeMs = 3_000 } = {},
): ObservedMetric {
  const window = new ProcessMemoryWindow({
    sampleMemory: (pgids) => new Map(pgids.flatMap((p) => (bytes[p] === undefined ? [] : [[p, bytes[p]!]]))),
    maxAgeMs,
  });
  window.sample(instances, at);
  return window.read(instances, target, now);
}

describe('ProcessMemoryWindow.read', () => {
  const cases: {
    name: string;
    instances: Instance[];
    bytes: Record<number, number>;
    target: MemoryTarget;
    at?: number;
    now?: number;
    want: Partial<ObservedMetric>;
  }[] = [
    {
      name: 'utilization: percent of each instance limit',
      instances: [instance('a', 1), instance('b', 2)],
      bytes: { 1: 256 * MIB, 2: 128 * MIB },
      target: utilization(80),
      want: { kind: 'utilization', target: 80, values: [50, 25], missing: 0, unready: 0 },
    },
    {
      name: 'utilization over unequal limits is Σ usage / Σ limits, as HPA computes it',
      // 300 MiB of 256 + 512 MiB = 39.0625 % on average, not (50 % + 33.3 %) / 2.
      instances: [instance('a', 1, 'ready', 256 * MIB), instance('b', 2, 'ready', 512 * MIB)],
      bytes: { 1: 128 * MIB, 2: 172 * MIB },
      target: utilization(80),
      want: { values: [(128 * 100) / 384, (172 * 100) / 384] },
    },
    {
      name: 'average value: bytes per instance, kind average',
      instances: [instance('a', 1, 'ready', null), instance('b', 2, 'ready', null)],
      bytes: { 1: 300 * MIB, 2: 100 * MIB },
      target: averageValue(256 * MIB),
      want: { kind: 'average', target: 256 * MIB, values: [300 * MIB, 100 * MIB], missing: 0 },
    },
    {
      name: 'a ready instance without a sample is missing, a starting one unready',
      instances: [instance('a', 1), instance('b', 2), instance('c', 3, 'starting')],
      bytes: { 1: 256 * MIB, 3: 100 * MIB },
      target: utilization(80),
      want: { values: [50], missing: 1, unready: 1 },
    },
    {
      name: 'draining and stopping instances count for nothing',
      instances: [instance('a', 1), instance('b', 2, 'draining')],
      bytes: { 1: 256 * MIB, 2: 512 * MIB },
      target: averageValue(MIB),
      want: { values: [256 * MIB], missing: 0, unready: 0 },
    },
    {
      name: 'a sample older than maxAge is missing',
      instances: [instance('a', 1)],
      bytes: { 1: 256 * MIB },
      target: utilization(80),
      at: 1_000,
      now: 4_000,
      want: { values: [], missing: 1 },
    },
    {
      name: 'a sample just inside maxAge counts',
      instances: [instance('a', 1)],
      bytes: { 1: 256 * MIB },
      target: utilization(80),
      at: 1_000,
      now: 3_999,
      want: { values: [50], missing: 0 },
    },
    {
      name: 'utilization of an instance without a limit is an error, never a value',
      instances: [instance('a', 1), instance('b', 2, 'ready', null)],
      bytes: { 1: 256 * MIB, 2: 256 * MIB },
      target: utilization(80),
      want: { values: [], error: 'b has no memory limit, so its memory use is no percent of one' },
    },
    {
      name: 'average value needs no limit',
      instances: [instance('b', 2, 'ready', null)],
      bytes: { 2: 3 * MIB },
      target: averageValue(MIB),
      want: { values: [3 * MIB] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const reading = readOnce(c.instances, c.bytes, c.target, {
        ...(c.at !== undefined && { at: c.at }),
        ...(c.now !== undefined && { now: c.now }),
      });
      assert.equal(reading.name, 'memory');
      assert.equal(reading.ceiling, undefined, 'memory has no ceiling like one core');
      for (const [key, value] of Object.entries(c.want)) {
        if (key === 'values') {
          const got = reading.values;
          assert.equal(got.length, (value as number[]).length, `values ${got}`);
          for (const [i, v] of (value as number[]).entries())
            assert.ok(Math.abs(got[i]! - v) < 1e-9, `values ${got}`);
        } else assert.deepEqual(reading[key as keyof ObservedMetric], value, key);
      }
    });
  }

  it('keeps the latest sample and forgets instances that are gone', () => {
    let bytes = new Map([
      [1, 100 * MIB],
      [2, 100 * MIB],
    ]);
    const window = new ProcessMemoryWindow({ sampleMemory: () => bytes, maxAgeMs: 3_000 });
    const a = instance('a', 1);
    const b = instance('b', 2);
    window.sample([a, b], 0);
    bytes = new Map([
      [1, 300 * MIB],
      [2, 100 * MIB],
    ]);
    window.sample([a, b], 1_000);
    assert.deepEqual(window.read([a, b], averageValue(MIB), 1_000).values, [300 * MIB, 100 * MIB]);
    // b left (scaled in), then a process with b's id came back: it must not inherit b's old sample.
    window.sample([a], 2_000);
    const reading = window.read([a, b], averageValue(MIB), 2_000);
    assert.deepEqual(reading.values, [300 * MIB]);
    assert.equal(reading.missing, 1);
  });

  it('feeds HPA arithmetic: 2 instances at 120 % of an 80 % target propose 3', () => {
    // 2 × 512 MiB limits, each at 491.52 MiB = 96 % → ratio 1.2 → ceil(1.2 × 2) = 3.
    const reading = readOnce(
      [instance('a', 1), instance('b', 2)],
      { 1: 491.52 * MIB, 2: 491.52 * MIB },
      utilization(80),
    );
    const proposal = replicasForMetric(reading, 2, { up: 0.1, down: 0.1 });
    assert.equal(proposal.reason, 'AboveTarget');
    assert.equal(proposal.proposal, 3);
  });

  it('a missing instance dampens a scale-down with the target as its value (AverageValue)', () => {
    // One instance at 64 MiB of a 256 MiB target, one missing: HPA assumes the missing one at target
    // on a scale-down, so (64 + 256) / 2 = 160 MiB → ratio 0.625 → ceil(0.625 × 2) = 2: no change.
    const reading = readOnce([instance('a', 1), instance('b', 2)], { 1: 64 * MIB }, averageValue(256 * MIB));
    assert.equal(reading.missing, 1);
    const proposal = replicasForMetric(reading, 2, { up: 0.1, down: 0.1 });
    assert.equal(proposal.proposal, 2);
  });
});
