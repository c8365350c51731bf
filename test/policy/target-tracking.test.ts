import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  initialPolicyState,
  type PolicyState,
  type ReasonCode,
  recommend,
  recordManualScale,
  type TargetTrackingConfig,
} from '../../src/policy/index.js';

const config: TargetTrackingConfig = {
  minInstances: 1,
  maxInstances: 10,
  tolerance: 0.1,
  scaleDownStabilization: 300_000,
  scaleUpStabilization: 0,
};

describe('recommend (HPA target tracking)', () => {
  const cases: {
    name: string;
    current: number;
    values: number[];
    target?: number;
    desired: number;
    reasons: ReasonCode[];
  }[] = [
    {
      name: 'at target keeps',
      current: 2,
      values: [80, 80],
      desired: 2,
      reasons: ['WithinTolerance', 'DesiredWithinRange'],
    },
    // Both sides of the tolerance boundary (ratio 1.1; 88/80 itself is 1.1000000000000001 in floats).
    {
      name: 'tolerance boundary inside',
      current: 2,
      values: [87.99, 87.99],
      desired: 2,
      reasons: ['WithinTolerance', 'DesiredWithinRange'],
    },
    {
      name: 'just past tolerance scales',
      current: 2,
      values: [88.1, 88.1],
      desired: 3,
      reasons: ['AboveTarget', 'DesiredWithinRange'],
    },
    {
      name: 'ceil(current × ratio)',
      current: 3,
      values: [160, 160, 160],
      desired: 6,
      reasons: ['AboveTarget', 'DesiredWithinRange'],
    },
    {
      name: 'average over instances',
      current: 2,
      values: [160, 0],
      desired: 2,
      reasons: ['WithinTolerance', 'DesiredWithinRange'],
    },
    {
      name: 'capped at max',
      current: 4,
      values: [400, 400, 400, 400],
      desired: 10,
      reasons: ['AboveTarget', 'TooManyReplicas'],
    },
    {
      name: 'counts only instances with samples',
      current: 3,
      values: [160],
      desired: 2,
      reasons: ['AboveTarget', 'DesiredWithinRange'],
    },
    {
      name: 'scale-down without history goes down',
      current: 4,
      values: [10, 10, 10, 10],
      desired: 1,
      reasons: ['BelowTarget', 'DesiredWithinRange'],
    },
    {
      name: 'never below min',
      current: 2,
      values: [0, 0],
      desired: 1,
      reasons: ['BelowTarget', 'TooFewReplicas'],
    },
    {
      name: 'no samples keeps the count',
      current: 3,
      values: [],
      desired: 3,
      reasons: ['NoMetrics', 'DesiredWithinRange'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decision = recommend(
        c.current,
        [{ name: 'cpu', target: c.target ?? 80, values: c.values }],
        config,
        initialPolicyState,
        1_000_000,
      );
      assert.equal(decision.desired, c.desired);
      assert.deepEqual(decision.reasons, c.reasons);
    });
  }

  it('raises to min when the current count is below it', () => {
    const decision = recommend(
      1,
      [{ name: 'cpu', target: 80, values: [80] }],
      { ...config, minInstances: 2 },
      initialPolicyState,
      0,
    );
    assert.equal(decision.desired, 2);
    assert.deepEqual(decision.reasons, ['WithinTolerance', 'TooFewReplicas']);
  });

  it('takes the largest proposal over several metrics', () => {
    const decision = recommend(
      2,
      [
        { name: 'cpu', target: 80, values: [40, 40] },
        { name: 'other', target: 10, values: [30, 30] },
      ],
      config,
      initialPolicyState,
      0,
    );
    assert.equal(decision.desired, 6);
    assert.equal(decision.reasons[0], 'AboveTarget');
  });

  it('a missing metric does not pull the count down', () => {
    const decision = recommend(
      4,
      [
        { name: 'cpu', target: 80, values: [80, 80, 80, 80] },
        { name: 'queue', target: 10, values: [] },
      ],
      config,
      initialPolicyState,
      0,
    );
    assert.equal(decision.desired, 4);
    assert.ok(decision.reasons.includes('MetricMissing'), "decision.reasons.includes('MetricMissing')");
  });
});

describe('scale-down stabilization window', () => {
  const window = 60_000;
  const cfg = { ...config, scaleDownStabilization: window };

  function run(steps: { at: number; current: number; values: number[] }[]) {
    let state: PolicyState = initialPolicyState;
    return steps.map((step) => {
      const d = recommend(
        step.current,
        [{ name: 'cpu', target: 80, values: step.values }],
        cfg,
        state,
        step.at,
      );
      state = d.state;
      return { desired: d.desired, reasons: d.reasons };
    });
  }

  it('holds the highest recommendation of the window, then lets go when it expires', () => {
    const results = run([
      { at: 0, current: 1, values: [320] }, // wants 4
      { at: 10_000, current: 4, values: [10, 10, 10, 10] }, // wants 1, held at 4
      { at: 59_999, current: 4, values: [10, 10, 10, 10] }, // still inside the window
      { at: 60_000, current: 4, values: [10, 10, 10, 10] }, // the 4 is exactly window-old: gone
    ]);
    assert.deepEqual(
      results.map((r) => r.desired),
      [4, 4, 4, 1],
    );
    assert.ok(
      results[1]!.reasons.includes('ScaleDownStabilized'),
      "results[1]!.reasons.includes('ScaleDownStabilized')",
    );
    assert.ok(
      !results[3]!.reasons.includes('ScaleDownStabilized'),
      "!results[3]!.reasons.includes('ScaleDownStabilized')",
    );
  });

  it('scale-up is not delayed by default', () => {
    const results = run([
      { at: 0, current: 4, values: [10, 10, 10, 10] },
      { at: 1_000, current: 4, values: [400, 400, 400, 400] },
    ]);
    assert.equal(results[1]!.desired, 10);
  });

  it('scale-up stabilization takes the lowest recommendation of its window', () => {
    let state = initialPolicyState;
    const upCfg = { ...cfg, scaleUpStabilization: 30_000 };
    const first = recommend(2, [{ name: 'cpu', target: 80, values: [80, 80] }], upCfg, state, 0);
    state = first.state;
    const second = recommend(2, [{ name: 'cpu', target: 80, values: [240, 240] }], upCfg, state, 10_000);
    assert.equal(second.desired, 2);
    assert.ok(second.reasons.includes('ScaleUpStabilized'), "second.reasons.includes('ScaleUpStabilized')");
    const third = recommend(
      2,
      [{ name: 'cpu', target: 80, values: [240, 240] }],
      upCfg,
      second.state,
      30_001,
    );
    assert.equal(third.desired, 6);
  });

  it('a manual scale-out is held like a recommendation', () => {
    let state = recordManualScale(initialPolicyState, 3, 0);
    const held = recommend(3, [{ name: 'cpu', target: 80, values: [0, 0, 0] }], cfg, state, 5_000);
    assert.equal(held.desired, 3);
    state = held.state;
    const released = recommend(3, [{ name: 'cpu', target: 80, values: [0, 0, 0] }], cfg, state, 60_001);
    assert.equal(released.desired, 1);
  });

  it('history does not grow without bound', () => {
    let state: PolicyState = initialPolicyState;
    for (let at = 0; at < 10 * window; at += 1_000) {
      state = recommend(2, [{ name: 'cpu', target: 80, values: [80, 80] }], cfg, state, at).state;
    }
    assert.ok(
      state.recommendations.length <= window / 1_000 + 1,
      'state.recommendations.length <= window / 1_000 + 1',
    );
  });
});
