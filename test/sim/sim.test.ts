import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, initialScalingState, presetPolicy, type ScalingState } from '../../src/policy/index.js';
import { buildDemand, oracle, renderSvg, runExperiment, simulate } from '../../src/sim/index.js';

/** A synthetic trace: 3 days of a daily sine with bursts, per second. */
function trace(days = 3): Float64Array {
  const n = days * 86_400;
  const out = new Float64Array(n);
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let t = 0; t < n; t++) {
    const day = Math.sin((2 * Math.PI * t) / 86_400);
    out[t] = Math.max(0, 20 + 15 * day + (rand() < 0.001 ? 40 : 0) + 4 * (rand() - 0.5));
  }
  return out;
}

const options = { from: 0, aggregate: 60, peakInstances: 20, capacity: 100 };

describe('simulator', () => {
  it('scales demand so the peak is peak-instances × capacity, held per minute', () => {
    const d = buildDemand(trace(1), options);
    assert.equal(Math.round(Math.max(...d.rate)), 2000);
    assert.equal(d.rate[0], d.rate[59]);
  });

  it('the oracle has no violations and the lowest cost', () => {
    const { rows } = runExperiment(trace(), {
      ...options,
      startup: 60,
      min: 1,
      max: 40,
      interval: 15,
      policies: ['hpa', 'default'],
      withOracle: true,
    });
    const byName = Object.fromEntries(rows.map((r) => [r.policy, r]));
    assert.equal(byName.oracle!.violation_pct, 0);
    for (const r of rows) assert.ok(r.cost_vs_oracle >= 1, `${r.policy} ${r.cost_vs_oracle}`);
    assert.ok(
      byName.hpa!.instance_hours > byName.default!.instance_hours,
      'byName.hpa!.instance_hours > byName.default!.instance_hours',
    );
  });

  it('decisions are causal: changing the trace after T changes no decision before T', () => {
    const a = buildDemand(trace(), options).rate;
    const b = Float64Array.from(a);
    const T = 2 * 86_400 + 3_600;
    for (let t = T; t < b.length; t++) b[t] = b[t]! * (t % 120 < 60 ? 3 : 0.1);
    for (const name of ['default', 'hpa', 'kpa', 'predictive', 'step'] as const) {
      const preset = presetPolicy(name, {
        minInstances: 1,
        maxInstances: 40,
        startup: 60_000,
        interval: 15_000,
      });
      const log = (rate: Float64Array) => {
        const out: string[] = [];
        simulate(
          rate,
          preset.policy,
          preset.target,
          { capacity: 100, startup: 60, interval: 15 },
          {
            onDecision: (t, d) => {
              if (t <= T) out.push(`${t}:${d.desired}:${d.reasons.join(',')}`);
            },
          },
        );
        return out;
      };
      assert.deepEqual(log(b), log(a), name);
    }
  });

  it('a decision leaves its input state untouched (replaying it gives the same answer)', () => {
    const preset = presetPolicy('default', {
      minInstances: 1,
      maxInstances: 40,
      startup: 60_000,
      interval: 15_000,
    });
    let state: ScalingState = initialScalingState;
    for (let i = 0; i < 200; i++) {
      const at = i * 60_000;
      state = decide(
        {
          current: 3,
          ready: 3,
          metrics: [{ name: 'cpu', target: 90, values: [50, 50, 50] }],
          samples: [{ at, load: 1.6, saturated: false }],
        },
        preset.policy,
        state,
        at + 1,
      ).nextState;
    }
    const snap = { current: 3, ready: 3, metrics: [{ name: 'cpu', target: 90, values: [80, 80, 80] }] };
    const first = decide(snap, preset.policy, state, 200 * 60_000);
    decide(
      { ...snap, samples: [{ at: 200 * 60_000, load: 99, saturated: true }] },
      preset.policy,
      state,
      200 * 60_000 + 1,
    );
    assert.deepEqual(decide(snap, preset.policy, state, 200 * 60_000), first);
  });

  it("a cpu metric with a window is read as each ready instance's average over its ready seconds in it", () => {
    // 100 req/s for 30 s, then 200: two instances at 50 % CPU, then 100 %.
    const rate = Float64Array.from({ length: 60 }, (_, t) => (t < 30 ? 100 : 200));
    const hpa = presetPolicy('hpa', { minInstances: 1, maxInstances: 10, startup: 60_000, interval: 15_000 });
    const policy = { ...hpa.policy, maxInstances: 2 }; // keep the count at 2 so the windows compare
    const cpuAt = (metric: { type: 'cpu'; target: number; window?: number }) => {
      const seen = new Map<number, number | null>();
      simulate(
        rate,
        policy,
        [metric],
        { capacity: 100, startup: 60, interval: 15 },
        {
          onDecision: (t, d) => seen.set(t, d.proposals[0]?.average ?? null),
        },
      );
      return seen;
    };
    // The decision after second 44: seconds 15..44 are half at 50 %, half at 100 %.
    assert.equal(cpuAt({ type: 'cpu', target: 70, window: 30 }).get(45), 75);
    assert.equal(cpuAt({ type: 'cpu', target: 70 }).get(45), 100, 'no window: the last second');
    assert.equal(cpuAt({ type: 'cpu', target: 70, window: 30 }).get(30), 50);
  });

  it('the oracle counts ceil(demand / 90 % of capacity)', () => {
    const r = oracle(Float64Array.from([90, 91, 0]), { capacity: 100 }, 0, 40);
    assert.deepEqual([...r.ready], [1, 2, 0]);
  });

  it('draws an SVG polyline per series', () => {
    const svg = renderSvg(
      [
        { name: 'demand', values: [1, 2, 3] },
        { name: 'hpa <ready>', values: [1, 1, 1], scale: 2 },
      ],
      { title: 't' },
    );
    assert.equal(svg.match(/<polyline/g)?.length, 2);
    assert.ok(svg.includes('&#60;ready&#62;'), "svg.includes('&#60;ready&#62;')");
  });
});
