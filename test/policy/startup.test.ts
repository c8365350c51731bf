import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chooseStartup,
  formatStartup,
  medianStartup,
  recordStartup,
  STARTUP_MIN_CHANGE_MS,
  STARTUP_SAMPLES,
  type Startup,
  type StartupInput,
  type StartupReason,
  type StartupSource,
  startupMoved,
} from '../../src/policy/index.js';

describe('medianStartup', () => {
  const cases: { samples: number[]; median: number | undefined }[] = [
    { samples: [], median: undefined },
    { samples: [1_500], median: 1_500 },
    { samples: [3_000, 1_000], median: 2_000 },
    { samples: [9_000, 1_000, 2_000], median: 2_000 },
    // One slow pull (a cold image cache) does not move it.
    { samples: [30_000, 31_000, 29_000, 32_000, 240_000], median: 31_000 },
    { samples: [1, 2], median: 2 }, // 1.5 → whole ms
  ];
  for (const { samples, median } of cases) {
    it(`[${samples.join(', ')}] → ${median}`, () => assert.equal(medianStartup(samples), median));
  }
});

describe('recordStartup', () => {
  it(`keeps the last ${STARTUP_SAMPLES}, oldest first`, () => {
    let samples: number[] = [];
    for (let i = 1; i <= STARTUP_SAMPLES + 3; i++) samples = recordStartup(samples, i * 1000);
    assert.equal(samples.length, STARTUP_SAMPLES);
    assert.equal(samples[0], 4_000);
    assert.equal(samples.at(-1), (STARTUP_SAMPLES + 3) * 1000);
  });

  it('drops a negative duration (engine and controller clocks apart) and does not change its input', () => {
    const samples = [1_000];
    assert.deepEqual(recordStartup(samples, -200), [1_000]);
    assert.deepEqual(recordStartup(samples, Number.NaN), [1_000]);
    assert.deepEqual(recordStartup(samples, 0), [1_000, 0]);
    assert.deepEqual(samples, [1_000]);
  });
});

describe('startupMoved: at least 25 % and 2 s from the start-up in use, both', () => {
  const cases: { inUse: number; learnt: number; moved: boolean }[] = [
    // Boundaries of the relative rule (2 s is easily met at 40 s).
    { inUse: 40_000, learnt: 50_000, moved: true },
    { inUse: 40_000, learnt: 49_999, moved: false },
    { inUse: 40_000, learnt: 30_000, moved: true },
    { inUse: 40_000, learnt: 30_001, moved: false },
    // Boundaries of the absolute rule (25 % is easily met at 4 s).
    { inUse: 4_000, learnt: 6_000, moved: true },
    { inUse: 4_000, learnt: 5_999, moved: false },
    { inUse: 4_000, learnt: 2_000, moved: true },
    { inUse: 4_000, learnt: 2_001, moved: false },
    // The default 10 s against a 1.6 s process; a 34 s pod; a 9 s one stays at 10 s.
    { inUse: 10_000, learnt: 1_600, moved: true },
    { inUse: 10_000, learnt: 34_000, moved: true },
    { inUse: 10_000, learnt: 9_000, moved: false },
    { inUse: 0, learnt: STARTUP_MIN_CHANGE_MS, moved: true },
    { inUse: 0, learnt: STARTUP_MIN_CHANGE_MS - 1, moved: false },
  ];
  for (const { inUse, learnt, moved } of cases) {
    it(`${inUse} → ${learnt}: ${moved ? 'taken' : 'held'}`, () =>
      assert.equal(startupMoved(inUse, learnt), moved));
  }
});

describe('chooseStartup', () => {
  const learnt = (ms: number): Startup => ({ ms, source: 'learnt' });
  const cases: {
    name: string;
    input: StartupInput;
    ms: number;
    source: StartupSource;
    reason: StartupReason;
    changed: boolean;
  }[] = [
    {
      name: 'scaling.startup wins over anything observed',
      input: { configured: 45_000, fallback: 10_000, samples: [2_000, 2_000] },
      ms: 45_000,
      source: 'config',
      reason: 'StartupConfigured',
      changed: true,
    },
    {
      name: 'nothing observed: the fallback (aws instance_warmup)',
      input: { fallback: 90_000, samples: [] },
      ms: 90_000,
      source: 'default',
      reason: 'StartupDefault',
      changed: true,
    },
    {
      name: 'nothing new: the fallback again, unchanged',
      input: { fallback: 10_000, samples: [], current: { ms: 10_000, source: 'default' } },
      ms: 10_000,
      source: 'default',
      reason: 'StartupDefault',
      changed: false,
    },
    {
      name: 'one observed, far from the default: taken',
      input: { fallback: 10_000, samples: [1_600], current: { ms: 10_000, source: 'default' } },
      ms: 1_600,
      source: 'learnt',
      reason: 'StartupLearnt',
      changed: true,
    },
    {
      name: 'observed close to the default: the default held',
      input: { fallback: 10_000, samples: [9_000], current: { ms: 10_000, source: 'default' } },
      ms: 10_000,
      source: 'default',
      reason: 'StartupHeld',
      changed: false,
    },
    {
      name: 'a learnt one is the reference afterwards: jitter holds it',
      input: { fallback: 10_000, samples: [30_000, 36_000, 34_000], current: learnt(30_000) },
      ms: 30_000,
      source: 'learnt',
      reason: 'StartupHeld',
      changed: false,
    },
    {
      name: 'a learnt one moves once the median does, by enough',
      input: { fallback: 10_000, samples: [30_000, 40_000, 38_000], current: learnt(30_000) },
      ms: 38_000,
      source: 'learnt',
      reason: 'StartupLearnt',
      changed: true,
    },
    {
      name: 'scaling.startup removed on reload: what was observed, measured against the fallback',
      input: { fallback: 10_000, samples: [30_000], current: { ms: 45_000, source: 'config' } },
      ms: 30_000,
      source: 'learnt',
      reason: 'StartupLearnt',
      changed: true,
    },
    {
      name: 'scaling.startup removed, nothing observed: the fallback',
      input: { fallback: 10_000, samples: [], current: { ms: 45_000, source: 'config' } },
      ms: 10_000,
      source: 'default',
      reason: 'StartupDefault',
      changed: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const choice = chooseStartup(c.input);
      assert.deepEqual(choice.startup, { ms: c.ms, source: c.source });
      assert.equal(choice.reason, c.reason);
      assert.equal(choice.changed, c.changed);
      assert.equal(choice.learnt, medianStartup(c.input.samples));
    });
  }
});

describe('formatStartup', () => {
  it('tenths below ten seconds, whole seconds above', () => {
    assert.equal(formatStartup(1_600), '1.6 s');
    assert.equal(formatStartup(2_000), '2 s');
    assert.equal(formatStartup(34_400), '34 s');
    assert.equal(formatStartup(49_000), '49 s');
  });
});
