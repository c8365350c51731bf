import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chosenCandidate,
  erfc,
  type ForecasterState,
  type ForecastSpec,
  forecastLoad,
  learnBucket,
  loadAbove,
  provisionFor,
} from '../../src/policy/forecast.js';
import { presetPolicy, retentionOf } from '../../src/policy/index.js';
import {
  forecastSpecOf,
  type HistoryState,
  observeHistory,
  predictiveFloor,
} from '../../src/policy/predictive.js';

const spec: ForecastSpec = {
  smoothers: [1, 0.25],
  errorHalfLife: 86_400_000,
  bucket: 60_000,
  violationCost: 13,
};

function seeded(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

function learnAll(values: readonly number[]): ForecasterState {
  let state: ForecasterState | undefined;
  values.forEach((v, index) => {
    state = learnBucket(spec, state, { index, sum: v, count: 1, saturated: false });
  });
  return state!;
}

describe('forecaster', () => {
  it('erfc matches known values', () => {
    for (const [x, want] of [
      [0, 1],
      [1, 0.157299207],
      [-1, 1.842700793],
      [2, 0.004677735],
    ] as const) {
      assert.ok(Math.abs(erfc(x) - want) < 1e-6, `erfc(${x}) = ${erfc(x)}`);
    }
  });

  it('noise around a steady level picks the slow average; a random walk picks the last value', () => {
    const rand = seeded(3);
    const noisy = Array.from({ length: 2000 }, () => 10 + 4 * (rand() - 0.5));
    assert.equal(chosenCandidate(learnAll(noisy)), 1);
    let x = 10;
    const walk = Array.from({ length: 2000 }, () => {
      x = Math.max(1, x + 4 * (rand() - 0.5));
      return x;
    });
    assert.equal(chosenCandidate(learnAll(walk)), 0);
  });

  it('learns the noise: sigma² ≈ dispersion × level for Poisson-like counts', () => {
    const rand = seeded(11);
    // Variance 4 at level 16: dispersion 0.25, sigma 2 (uniform noise of width w has variance w²/12).
    const w = Math.sqrt(48);
    const state = learnAll(Array.from({ length: 5000 }, () => 16 + w * (rand() - 0.5)));
    const f = forecastLoad(spec, state, undefined)!;
    assert.ok(Math.abs(f.level - 16) < 2.5, `level ${f.level}`);
    // The slow average's own error adds a little to the bucket noise.
    assert.ok(f.sigma > 1.9 && f.sigma < 2.4, `sigma ${f.sigma}`);
  });

  it('the bucket still filling moves the forecast at once, as the chosen smoother would', () => {
    const state = learnAll([10, 10, 10]);
    const f = forecastLoad(spec, state, { index: 3, sum: 40, count: 2, saturated: false })!;
    assert.equal(f.level, 20);
  });

  it('with a ridge, combines smoothers: a slow level plus part of the last surprise beats either alone', () => {
    // y(t) = level + e(t) + 0.5 e(t − 1): neither the last value nor a slow average is right.
    const rand = seeded(7);
    let prev = 0;
    const values = Array.from({ length: 6000 }, () => {
      const e = 6 * (rand() - 0.5);
      const v = 20 + e + 0.5 * prev;
      prev = e;
      return v;
    });
    const plain = { ...spec, smoothers: [1, 0.5, 0.25, 0.1, 0.03] };
    const combined = { ...plain, ridge: 1e-3 };
    const squaredError = (s: ForecastSpec) => {
      let state: ForecasterState | undefined;
      let sum = 0;
      values.forEach((v, index) => {
        if (index >= 3000) sum += (v - forecastLoad(s, state, undefined)!.level) ** 2;
        state = learnBucket(s, state, { index, sum: v, count: 1, saturated: false });
      });
      return sum;
    };
    const alone = squaredError(plain);
    const together = squaredError(combined);
    assert.ok(together < 0.9 * alone, `combined ${together} vs best alone ${alone}`);
  });

  it('with noise lags, a burst widens the next forecast and calm narrows it again', () => {
    const lagged = { ...spec, ridge: 1e-3, noiseLags: 3 };
    const rand = seeded(13);
    // Calm stretches with bursts of three noisy buckets: the noise clusters.
    const values = Array.from({ length: 8000 }, (_, i) => 10 + (i % 50 < 3 ? 12 : 2) * (rand() - 0.5));
    let state: ForecasterState | undefined;
    values.forEach((v, index) => {
      state = learnBucket(lagged, state, { index, sum: v, count: 1, saturated: false });
    });
    const calm = forecastLoad(lagged, state, undefined)!.sigma;
    const burst = forecastLoad(lagged, state, { index: 8000, sum: 16, count: 1, saturated: false })!.sigma;
    assert.ok(burst > 1.5 * calm, `sigma after a burst ${burst}, calm ${calm}`);
  });

  it('provisions the mean when violations cost nothing, more as they cost more', () => {
    const f = { level: 4.2, sigma: 1 };
    assert.equal(provisionFor(f, 0, 40), 5);
    const counts = [1, 5, 13, 50, 500].map((cost) => provisionFor(f, cost, 40));
    for (let i = 1; i < counts.length; i++) assert.ok(counts[i]! >= counts[i - 1]!, counts.join(','));
    assert.ok(counts.at(-1)! >= 7, counts.join(','));
    assert.equal(provisionFor({ level: 4.2, sigma: 0 }, 500, 40), 5);
    assert.equal(provisionFor(f, 500, 6), 6);
  });

  it('stops exactly where one more instance saves less than it costs', () => {
    const f = { level: 3, sigma: 1 };
    const cost = 13;
    const n = provisionFor(f, cost, 40);
    const saving = (k: number) => cost * (loadAbove(3, 1, k) - loadAbove(3, 1, k + 1));
    assert.ok(saving(n) <= 1, 'saving(n) <= 1');
    assert.ok(saving(n - 1) > 1, 'saving(n - 1) > 1');
  });
});

describe('predictive history', () => {
  it('keeps what the spec reads back, not every bucket since start', () => {
    const spec = presetPolicy('default', {
      minInstances: 1,
      maxInstances: 40,
      startup: 60_000,
      interval: 15_000,
    }).policy.predictive!;
    let state: HistoryState = {};
    for (let minute = 0; minute < 2_000; minute++) {
      state = observeHistory(spec, state, [
        { at: minute * 60_000, load: 1 + (minute % 7), saturated: false },
      ]);
    }
    const keep = Math.ceil(retentionOf(spec) / spec.bucket) + 1;
    assert.ok(state.history!.length <= 2 * keep, `${state.history!.length} buckets kept`);
    assert.equal(state.history!.items[state.history!.length - 1]!.index, 1_998);
  });
});

describe('predictive floor', () => {
  it('a decision whose orders serve two buckets out still keeps what the next bucket needs', () => {
    const spec = presetPolicy('default', {
      minInstances: 1,
      maxInstances: 40,
      startup: 60_000,
      interval: 15_000,
    }).policy.predictive!;
    // Level 5 with two-bucket spikes to 15: after a spike's first bucket the next one is high, the
    // one after is not, so the two-ahead forecast is lower than the one-ahead.
    let state: HistoryState = {};
    for (let minute = 0; minute < 3_000; minute++) {
      const load = minute % 40 < 2 ? 15 : 5;
      state = observeHistory(spec, state, [{ at: minute * 60_000, load, saturated: false }]);
    }
    state = observeHistory(spec, state, [{ at: 3_000 * 60_000 + 59_000, load: 15, saturated: false }]);
    const learn = forecastSpecOf(spec)!;
    const need = (steps: 1 | 2) =>
      provisionFor(forecastLoad(learn, state.forecaster, state.openBucket, steps)!, learn.violationCost, 40);
    assert.ok(need(2) < need(1), `two ahead ${need(2)}, one ahead ${need(1)}`);
    // At the minute's boundary the orders are ready two buckets out; the count must still cover the next.
    const floor = predictiveFloor(spec, state, [], 3_001 * 60_000, spec.utilization!, 40);
    assert.equal(floor, need(1));
  });
});
