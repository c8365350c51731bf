import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decide,
  HPA_SCALE_DOWN,
  HPA_SCALE_UP,
  initialScalingState,
  livePolicy,
  type ObservedMetric,
  percentChange,
  presetPolicy,
  replicasForMetric,
  type ScalingPolicy,
  type ScalingState,
  type Snapshot,
  scaleDownLimit,
  scaleUpLimit,
} from '../../src/policy/index.js';

const hpa: ScalingPolicy = {
  name: 'hpa',
  minInstances: 1,
  maxInstances: 100,
  scaleUp: HPA_SCALE_UP,
  scaleDown: HPA_SCALE_DOWN,
  unready: 'hpa',
};

const cpu = (values: number[], extra: Partial<ObservedMetric> = {}): ObservedMetric => ({
  name: 'cpu',
  target: 50,
  values,
  ...extra,
});

const tol = { up: 0.1, down: 0.1 };

describe('HPA replica calculator (documented examples and boundaries)', () => {
  const cases: {
    name: string;
    current: number;
    metric: ObservedMetric;
    proposal: number | null;
    reason: string;
  }[] = [
    // kubernetes.io: 200m current vs 100m desired doubles; 50m halves.
    { name: 'doubles at 2× target', current: 1, metric: cpu([100]), proposal: 2, reason: 'AboveTarget' },
    {
      name: 'halves at 0.5× target',
      current: 4,
      metric: cpu([25, 25, 25, 25]),
      proposal: 2,
      reason: 'BelowTarget',
    },
    {
      name: 'tolerance up inside (1.1)',
      current: 2,
      metric: cpu([55, 54.99]),
      proposal: 2,
      reason: 'WithinTolerance',
    },
    {
      name: 'tolerance up outside',
      current: 2,
      metric: cpu([55.1, 55.1]),
      proposal: 3,
      reason: 'AboveTarget',
    },

    {
      name: 'tolerance down inside (0.9)',
      current: 4,
      metric: cpu([45.01, 45.01, 45.01, 45.01]),
      proposal: 4,
      reason: 'WithinTolerance',
    },
    {
      name: 'tolerance down outside',
      current: 4,
      metric: cpu([44.9, 44.9, 44.9, 44.9]),
      proposal: 4,
      reason: 'BelowTarget',
    },
    // Missing pods: 0 on scale-up, 100 % on scale-down; the rebalanced ratio decides.
    {
      name: 'missing on scale-up count as 0',
      current: 3,
      metric: cpu([100, 100], { missing: 1 }),
      proposal: 4,
      reason: 'AboveTarget',
    },
    {
      name: 'missing on scale-down count as 100 %',
      current: 3,
      metric: cpu([10, 10], { missing: 1 }),
      proposal: 3,
      reason: 'BelowTarget',
    },
    {
      name: 'missing: rebalanced ratio flips → keep',
      current: 3,
      metric: cpu([60, 60], { missing: 1, target: 50 }),
      proposal: 3,
      reason: 'WithinTolerance',
    },
    // At exactly the target HPA fills missing pods in neither way: they are left out and 1.0 holds.
    {
      name: 'missing at a ratio of exactly 1 are left out → keep',
      current: 3,
      metric: cpu([50, 50], { missing: 1, target: 50 }),
      proposal: 3,
      reason: 'WithinTolerance',
    },
    // Unready pods dampen only scale-up: 2 ready at 100, 2 starting → ratio 1.0 → keep.
    {
      name: 'unready count as 0 on scale-up',
      current: 4,
      metric: cpu([100, 100], { unready: 2 }),
      proposal: 4,
      reason: 'WithinTolerance',
    },
    {
      name: 'unready ignored on scale-down',
      current: 4,
      metric: cpu([10, 10], { unready: 2 }),
      proposal: 1,
      reason: 'BelowTarget',
    },
    { name: 'no samples is missing', current: 3, metric: cpu([]), proposal: null, reason: 'MetricMissing' },
    {
      name: 'failing source is missing',
      current: 3,
      metric: cpu([10], { error: 'timeout' }),
      proposal: null,
      reason: 'MetricMissing',
    },
    {
      name: 'total: ceil(total / target)',
      current: 2,
      metric: { name: 'queue', kind: 'total', target: 10, values: [95] },
      proposal: 10,
      reason: 'AboveTarget',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = replicasForMetric(c.metric, c.current, tol);
      assert.equal(p.proposal, c.proposal);
      assert.equal(p.reason, c.reason);
    });
  }

  it('whole-percent utilization (the HPA presets): 55.9 % reads as 55 %, an average is never truncated', () => {
    const whole = (metric: ObservedMetric) => replicasForMetric(metric, 2, tol, 'hpa', true);
    assert.equal(whole(cpu([55.9, 55.9])).reason, 'WithinTolerance');
    assert.equal(whole(cpu([56, 56])).proposal, 3);
    assert.equal(whole(cpu([55.9, 55.9], { kind: 'average' })).proposal, 3);
    // Exact (Scaleplane's own policies): 55.9 / 50 is outside the tolerance.
    assert.equal(replicasForMetric(cpu([55.9, 55.9]), 2, tol).proposal, 3);
    // The rebalanced ratio is truncated too: 2 ready at 100 %, 1 starting → 66.67 % → 66 % of a 60 %
    // target is 1.1, within tolerance; exact, 1.11 is not.
    const rebalanced = cpu([100, 100], { unready: 1, target: 60 });
    assert.equal(replicasForMetric(rebalanced, 3, tol, 'hpa', true).proposal, 3);
    assert.equal(replicasForMetric(rebalanced, 3, tol, 'hpa').proposal, 4);
  });

  it('per-direction tolerance: 0 up, 0.5 down', () => {
    assert.equal(replicasForMetric(cpu([51, 51]), 2, { up: 0, down: 0.5 }).reason, 'AboveTarget');
    assert.equal(replicasForMetric(cpu([26, 26]), 2, { up: 0, down: 0.5 }).reason, 'WithinTolerance');
  });
});

describe('HPA behavior rate policies', () => {
  const down = (policies: ScalingPolicy['scaleDown']['policies'], selectPolicy: 'Max' | 'Min' = 'Max') => ({
    ...HPA_SCALE_DOWN,
    policies,
    selectPolicy,
  });
  // kubernetes.io: Pods 4/60s and Percent 10/60s; with 80 replicas the first step removes 8, below
  // 40 replicas the Pods policy (4) allows more.
  const docs = down([
    { type: 'Pods', value: 4, period: 60_000 },
    { type: 'Percent', value: 10, period: 60_000 },
  ]);
  const cases = [
    { name: '80 replicas: Percent removes 8', current: 80, limit: 72, rules: docs },
    { name: '72 replicas: 7.2 removes 8 (truncated count)', current: 72, limit: 64, rules: docs },
    { name: '30 replicas: Pods removes 4', current: 30, limit: 26, rules: docs },
    {
      name: 'selectPolicy Min picks the smaller change',
      current: 80,
      limit: 76,
      rules: { ...docs, selectPolicy: 'Min' as const },
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(scaleDownLimit(c.current, [], [], c.rules, 0), c.limit));
  }

  it('default scale-up: max(+100 %, +4) per 15 s', () => {
    assert.equal(scaleUpLimit(1, [], [], HPA_SCALE_UP, 0), 5);
    assert.equal(scaleUpLimit(10, [], [], HPA_SCALE_UP, 0), 20);
  });

  it('events within the period count against the limit, and expire', () => {
    const events = [{ at: 10_000, change: 4 }];
    assert.equal(scaleUpLimit(5, events, [], HPA_SCALE_UP, 20_000), 5); // period start 1 → max(2, 5)
    assert.equal(scaleUpLimit(5, events, [], HPA_SCALE_UP, 25_001), 10);
  });

  function run(policy: ScalingPolicy, steps: { at: number; current: number; values: number[] }[]) {
    let state: ScalingState = initialScalingState;
    return steps.map((s) => {
      const d = decide(
        { current: s.current, ready: s.current, metrics: [cpu(s.values)] },
        policy,
        state,
        s.at,
      );
      state = d.nextState;
      return d;
    });
  }

  it('ScaleUpLimit reason when the policy caps a jump', () => {
    const [d] = run(hpa, [{ at: 0, current: 2, values: [500, 500] }]);
    assert.equal(d!.desired, 6);
    assert.ok(d!.reasons.includes('ScaleUpLimit'), "d!.reasons.includes('ScaleUpLimit')");
  });

  it('selectPolicy Disabled blocks that direction', () => {
    const policy = {
      ...hpa,
      scaleDown: { ...HPA_SCALE_DOWN, selectPolicy: 'Disabled' as const, stabilizationWindow: 0 },
    };
    const [d] = run(policy, [{ at: 0, current: 4, values: [5, 5, 5, 5] }]);
    assert.equal(d!.desired, 4);
    assert.ok(d!.reasons.includes('ScaleDownDisabled'), "d!.reasons.includes('ScaleDownDisabled')");
  });

  it('scale-down stabilization holds the highest recommendation for 300 s', () => {
    const ds = run(hpa, [
      { at: 0, current: 4, values: [50, 50, 50, 50] },
      { at: 15_000, current: 4, values: [10, 10, 10, 10] },
      { at: 300_000, current: 4, values: [10, 10, 10, 10] },
    ]);
    assert.deepEqual(
      ds.map((d) => d.desired),
      [4, 4, 1],
    );
    assert.ok(
      ds[1]!.reasons.includes('ScaleDownStabilized'),
      "ds[1]!.reasons.includes('ScaleDownStabilized')",
    );
  });

  it('a failing metric never scales down', () => {
    let state = initialScalingState;
    const d = decide(
      {
        current: 4,
        ready: 4,
        metrics: [
          cpu([10, 10, 10, 10]),
          { name: 'queue', kind: 'total', target: 5, values: [], error: 'ECONNREFUSED' },
        ],
      },
      { ...hpa, scaleDown: { ...HPA_SCALE_DOWN, stabilizationWindow: 0 } },
      state,
      0,
    );
    state = d.nextState;
    assert.equal(d.desired, 4);
    assert.ok(d.reasons.includes('MetricMissing'), "d.reasons.includes('MetricMissing')");
  });
});

describe("HPA without spec.behavior (the controller's older path)", () => {
  const legacy: ScalingPolicy = { ...hpa, normalization: 'legacy' };
  function run(steps: { at: number; current: number; values: number[] }[]) {
    let state: ScalingState = initialScalingState;
    return steps.map((s) => {
      const d = decide(
        { current: s.current, ready: s.current, metrics: [cpu(s.values)] },
        legacy,
        state,
        s.at,
      );
      state = d.nextState;
      return d;
    });
  }

  it('one step is at most max(2 × current, 4): 1 → 4 where behavior allows 5, 10 → 20', () => {
    const [small] = run([{ at: 0, current: 1, values: [500] }]);
    assert.equal(small!.desired, 4);
    assert.ok(small!.reasons.includes('ScaleUpLimit'), "small!.reasons.includes('ScaleUpLimit')");
    const [large] = run([{ at: 0, current: 10, values: Array(10).fill(500) }]);
    assert.equal(large!.desired, 20);
    // The documented default behavior: max(+100 %, +4 pods) → 5 from 1.
    const [withBehavior] = decide(
      { current: 1, ready: 1, metrics: [cpu([500])] },
      hpa,
      initialScalingState,
      0,
    ).stages.filter((st) => st.stage === 'rateLimited');
    assert.equal(withBehavior!.desired, 5);
  });

  it('the highest recommendation of the last 300 s holds in both directions, the one at the cutoff included', () => {
    const ds = run([
      { at: 0, current: 2, values: [150, 150] }, // wants 6, allowed 4
      { at: 15_000, current: 4, values: [50, 50, 50, 50] }, // wants 4, the 6 of t = 0 still holds
      { at: 300_000, current: 6, values: [10, 10, 10, 10, 10, 10] }, // 6 made at t = 0 is at the cutoff
      { at: 315_001, current: 6, values: [10, 10, 10, 10, 10, 10] }, // every high one is older
    ]);
    assert.deepEqual(
      ds.map((d) => d.desired),
      [4, 6, 6, 2],
    );
    // Scaling up past the metric's own count: behavior's 0 s scale-up window would have kept 4.
    assert.ok(
      ds[1]!.reasons.includes('ScaleDownStabilized'),
      "ds[1]!.reasons.includes('ScaleDownStabilized')",
    );
  });

  it('min and max still bound it', () => {
    const [d] = run([{ at: 0, current: 60, values: Array(60).fill(500) }]);
    assert.equal(d!.desired, 100);
    assert.ok(d!.reasons.includes('TooManyReplicas'), "d!.reasons.includes('TooManyReplicas')");
  });

  it('the hpa and keda presets are the behavior-less HPA; hpa-behavior writes the documented rules out', () => {
    const timing = { minInstances: 1, maxInstances: 40, startup: 60_000, interval: 15_000 };
    assert.equal(presetPolicy('hpa', timing).policy.normalization, 'legacy');
    assert.equal(presetPolicy('keda', timing).policy.normalization, 'legacy');
    assert.equal(presetPolicy('hpa-behavior', timing).policy.normalization ?? 'behavior', 'behavior');
    for (const name of ['hpa', 'hpa-behavior', 'keda'] as const)
      assert.equal(presetPolicy(name, timing).policy.utilization, 'whole-percent', name);
    assert.equal(presetPolicy('default', timing).policy.utilization ?? 'exact', 'exact');
    // A live group on `policy: hpa` follows Kubernetes: behavior-less until its config sets one.
    const settings = {
      preset: 'hpa' as const,
      tolerance: 0.1,
      scaleUpStabilization: 0,
      scaleDownStabilization: 300_000,
    };
    assert.equal(livePolicy('web', 1, 5, settings).normalization, 'legacy');
    assert.equal(livePolicy('web', 1, 5, { ...settings, behaviorSet: true }).normalization, 'behavior');
  });
});

describe('AWS step and simple scaling', () => {
  it('rounds percent changes as documented', () => {
    assert.equal(percentChange(127, 10), 12); // 12.7 → 12
    assert.equal(percentChange(4, 10), 1); // 0.4 → 1
    assert.equal(percentChange(66.7, -10), -6); // −6.67 → −6
    assert.equal(percentChange(4, -10), -1);
    assert.equal(percentChange(10, 10, 3), 3); // MinAdjustmentMagnitude
  });

  const step = presetPolicy('step', {
    minInstances: 1,
    maxInstances: 40,
    startup: 60_000,
    interval: 15_000,
  }).policy;
  const simple = presetPolicy('simple', {
    minInstances: 1,
    maxInstances: 40,
    startup: 60_000,
    interval: 15_000,
  }).policy;

  it('picks the step by breach size', () => {
    const small = decide(
      { current: 10, ready: 10, metrics: [cpu(Array(10).fill(75))] },
      step,
      initialScalingState,
      0,
    );
    const big = decide(
      { current: 10, ready: 10, metrics: [cpu(Array(10).fill(95))] },
      step,
      initialScalingState,
      0,
    );
    assert.deepEqual([small.desired, big.desired], [12, 15]);
    assert.ok(small.reasons.includes('StepAdjustment'), "small.reasons.includes('StepAdjustment')");
  });

  it('step scaling counts warming instances: a second breach adds only the difference', () => {
    // 10 ready + 2 warming after the first +20 %; a bigger breach asks 10 + 50 % = 15, not 12 + 6.
    const d = decide(
      { current: 12, ready: 10, metrics: [cpu(Array(10).fill(95))] },
      step,
      initialScalingState,
      0,
    );
    assert.equal(d.desired, 15);
  });

  it('simple scaling waits for its cooldown', () => {
    const first = decide(
      { current: 10, ready: 10, metrics: [cpu(Array(10).fill(95))] },
      simple,
      initialScalingState,
      0,
    );
    const second = decide(
      { current: 15, ready: 15, metrics: [cpu(Array(15).fill(95))] },
      simple,
      first.nextState,
      60_000,
    );
    const after = decide(
      { current: 15, ready: 15, metrics: [cpu(Array(15).fill(95))] },
      simple,
      first.nextState,
      300_000,
    );
    assert.equal(second.desired, 15);
    assert.ok(second.reasons.includes('CooldownActive'), "second.reasons.includes('CooldownActive')");
    assert.equal(after.desired, 22);
  });
});

describe('KEDA scale to zero', () => {
  const keda: ScalingPolicy = {
    ...hpa,
    minInstances: 0,
    scaleDown: { ...HPA_SCALE_DOWN, stabilizationWindow: 0 },
    activation: { threshold: 5, cooldown: 300_000 },
  };
  const queue = (depth: number): Snapshot['metrics'] => [
    { name: 'queue', kind: 'total', target: 10, values: [depth] },
  ];

  const cases = [
    {
      name: 'at zero, below activation stays at zero',
      current: 0,
      depth: 5,
      desired: 0,
      reason: 'NotActive',
    },
    { name: 'at zero, above activation wakes', current: 0, depth: 6, desired: 1, reason: 'Activated' },
    { name: 'active: HPA part scales', current: 1, depth: 40, desired: 4, reason: 'AboveTarget' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decide(
        { current: c.current, ready: c.current, metrics: queue(c.depth) },
        keda,
        initialScalingState,
        0,
      );
      assert.equal(d.desired, c.desired);
      assert.ok(d.reasons.includes(c.reason as never), `${d.reasons}`);
    });
  }

  it('a metric missing beside an inactive one holds the group; an active one still counts', () => {
    // An AWS group's CPU while CloudWatch has no datapoint, beside its queue. Before, the queue read
    // empty made the group inactive and a cooldown of 0 scaled it to zero, CPU unknown.
    const cpuMissing = { name: 'cpu', target: 50, values: [], error: 'no datapoint' };
    const now = { ...keda, activation: { threshold: 5, cooldown: 0 } };
    const held = decide(
      { current: 2, ready: 2, metrics: [cpuMissing, ...queue(0)] },
      now,
      initialScalingState,
      0,
    );
    assert.equal(held.desired, 2, `${held.message}`);
    assert.ok(!held.reasons.includes('ScaledToZero'), `${held.reasons}`);
    const busy = decide(
      { current: 2, ready: 2, metrics: [cpuMissing, ...queue(40)] },
      now,
      initialScalingState,
      0,
    );
    assert.equal(busy.desired, 4, `${busy.message}`);
    const atZero = decide(
      { current: 0, ready: 0, metrics: [cpuMissing, ...queue(40)] },
      now,
      initialScalingState,
      0,
    );
    assert.ok(atZero.reasons.includes('Activated'), `${atZero.reasons}`);
  });

  it('inactive goes to zero only after the cooldown, and never below 1 before', () => {
    const active = decide({ current: 2, ready: 2, metrics: queue(20) }, keda, initialScalingState, 0);
    const quiet = decide({ current: 2, ready: 2, metrics: queue(0) }, keda, active.nextState, 299_000);
    const later = decide({ current: 1, ready: 1, metrics: queue(0) }, keda, quiet.nextState, 300_000);
    assert.equal(quiet.desired, 1);
    assert.ok(quiet.reasons.includes('ZeroCooldown'), "quiet.reasons.includes('ZeroCooldown')");
    assert.equal(later.desired, 0);
    assert.ok(later.reasons.includes('ScaledToZero'), "later.reasons.includes('ScaledToZero')");
  });
});

describe('KPA panic mode', () => {
  const kpa: ScalingPolicy = {
    ...hpa,
    scaleUp: { ...HPA_SCALE_UP, policies: [] },
    scaleDown: { ...HPA_SCALE_DOWN, stabilizationWindow: 0, policies: [] },
    unready: 'capacity',
    panic: { window: 6_000, threshold: 2, stableWindow: 60_000, saturationFactor: 0 },
  };
  const samples = (from: number, load: number) =>
    Array.from({ length: 6 }, (_, i) => ({ at: from + i * 1000, load, saturated: false }));
  const snap = (ready: number, load: number, at: number): Snapshot => ({
    current: ready,
    ready,
    metrics: [cpu(Array(ready).fill((load * 50) / ready))],
    samples: samples(at - 5_000, load),
  });

  it('panics at 200 %, holds while over, no scale-down, ends after the stable window', () => {
    // 2 ready, load 5 instances: 250 % → panic to 5.
    const a = decide(snap(2, 5, 10_000), kpa, initialScalingState, 10_000);
    assert.equal(a.desired, 5);
    assert.ok(a.reasons.includes('PanicStarted'), "a.reasons.includes('PanicStarted')");
    // Load falls back to 1: still panicking, no scale-down.
    const b = decide(snap(5, 1, 30_000), kpa, a.nextState, 30_000);
    assert.equal(b.desired, 5);
    assert.ok(b.reasons.includes('PanicHold'), "b.reasons.includes('PanicHold')");
    // 60 s after the last burst: panic over, stable answer goes down.
    const c = decide(snap(5, 1, 70_000), kpa, b.nextState, 70_000);
    assert.ok(c.reasons.includes('PanicEnded'), "c.reasons.includes('PanicEnded')");
    assert.equal(c.desired, 1);
  });

  it('below 200 % does not panic', () => {
    // ceil(3) / 2 = 150 %.
    const d = decide(snap(2, 3, 10_000), kpa, initialScalingState, 10_000);
    assert.ok(!d.reasons.some((r) => r.startsWith('Panic')), "!d.reasons.some((r) => r.startsWith('Panic'))");
  });
});
