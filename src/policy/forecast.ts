/**
 * The demand forecaster of the predictive stage, as pure functions over plain data:
 *
 *   learn:     when a history bucket closes, score every candidate's forecast of it (exponentially
 *              weighted squared error), learn the noise's dispersion (squared error / level), then
 *              move each candidate — an exponential moving average with its own smoothing factor —
 *              to the bucket's mean load
 *   predict:   the candidate with the smallest recent error forecasts the next bucket, including
 *              the bucket still filling (so a decision sees this minute's load at once); with
 *              `ridge`, a least-squares combination of all candidates does (regression.ts)
 *   provision: the fewest instances n at which one more instance would save less than it costs:
 *              violationCost × (E[load above n] − E[load above n + 1]) ≤ 1, load ~ Normal(level,
 *              dispersion × level). The price of a violation sets the headroom, not a fixed σ count.
 *
 * Why several smoothers: noisy stationary traffic (many small clients) is forecast best by a slow
 * average, traffic that wanders like a random walk by the last value; which one a group has is
 * learnt from its own errors rather than configured. Why a combination: bursty traffic is neither —
 * a slow level plus part of the last bucket's surprise — and the best weights are learnt the same
 * way. Why dispersion × level: counting noise grows with the square root of the rate, so headroom
 * follows the level through the day. Why noise lags: a burst is followed by more surprises than a
 * calm hour, so the spread of the next bucket follows the last few squared errors.
 */
import { emptyRegression, foldObservation, predict, type Regression, solveRegression } from './regression.js';
import type { HistoryBucket } from './types.js';

/** ForecastSpec is the part of the predictive settings the forecaster reads. */
export interface ForecastSpec {
  /** EWMA smoothing factors per bucket, each one candidate forecaster (1 = the last bucket). */
  smoothers: readonly number[];
  /** Half-life of the error and dispersion memory, ms. */
  errorHalfLife: number;
  /** History bucket, ms. */
  bucket: number;
  /** Instance-time one instance-time of overloaded demand is worth (≥ 1; higher = more headroom). */
  violationCost: number;
  /**
   * Set: forecast with a least-squares combination of all smoothers and a constant, fitted online
   * to the group's own buckets and shrunk by this ridge towards the chosen smoother alone (which is
   * what an empty or flat history falls back to). Unset: the chosen smoother alone.
   */
  ridge?: number;
  /** Set (≥ 1): the noise follows the last this many squared errors. Unset: one learnt constant. */
  noiseLags?: number;
}

/** ForecasterState is what the forecaster remembers: a few numbers per candidate, persisted as is. */
export interface ForecasterState {
  /** Index of the last bucket learnt. */
  index: number;
  /** Per candidate: its level (= its forecast of the next bucket). */
  levels: number[];
  /** Per candidate: weighted sum of squared one-step errors. */
  errors: number[];
  /** Weighted sum of squared error / max(level, LEVEL_FLOOR) of the forecast used. */
  dispersion: number;
  /** The same for forecasts made two buckets ahead (orders that become ready a bucket later). */
  dispersion2?: number;
  /** Per candidate: its level one bucket ago (its two-ahead forecast of this bucket). */
  previous?: number[];
  /** Sum of the weights of the errors so far (they decay together). */
  weight: number;
  /** With `ridge`: the fit of the next bucket on [...levels, 1] and its weights. */
  fit?: Regression;
  weights?: number[];
  /** With `ridge`: the fit of the bucket after next on the same features, and its weights. */
  fit2?: Regression;
  weights2?: number[];
  /** With `noiseLags`: the last squared errors per level (newest first), their fit and weights. */
  noise?: number[];
  noiseFit?: Regression;
  noiseWeights?: number[];
}

/** Forecast is a bucket's expected load and the standard deviation around it. */
export interface Forecast {
  level: number;
  sigma: number;
}

/** LEVEL_FLOOR keeps an idle group's dispersion finite (load is in instances). */
const LEVEL_FLOOR = 0.1;
/** NOISE_FLOOR: however calm the last buckets, the spread stays ≥ this share of its long-run mean. */
const NOISE_FLOOR = 0.2;
/** NOISE_RIDGE shrinks the noise fit towards the long-run mean when `ridge` is unset. */
const NOISE_RIDGE = 1e-3;

function decayPerBucket(spec: ForecastSpec): number {
  return 0.5 ** (spec.bucket / spec.errorHalfLife);
}

/** chosenCandidate is the candidate with the smallest recent error (the first on a tie). */
export function chosenCandidate(state: ForecasterState): number {
  let best = 0;
  for (let i = 1; i < state.errors.length; i++) if (state.errors[i]! < state.errors[best]!) best = i;
  return best;
}

/** pointForecast is the forecast from candidate levels: the combination when fitted, else the chosen one. */
function pointForecast(
  spec: ForecastSpec,
  state: ForecasterState,
  levels: readonly number[],
  weights: readonly number[] | undefined,
): number {
  if (spec.ridge !== undefined && weights?.length === levels.length + 1) {
    return Math.max(0, predict(weights, [...levels, 1]));
  }
  return levels[chosenCandidate(state)]!;
}

/** fitOver is a fit over `p` features: the one learnt, or an empty one when the features changed. */
function fitOver(r: Regression | undefined, p: number): Regression {
  return r && r.moments.length === p && r.gram.length === p * p ? r : emptyRegression(p);
}

function noiseFeatures(noise: readonly number[], lags: number): number[] {
  return [1, ...Array.from({ length: lags }, (_, i) => noise[i] ?? 0)];
}

/** learnBucket folds one closed bucket into the forecaster. */
export function learnBucket(
  spec: ForecastSpec,
  state: ForecasterState | undefined,
  bucket: HistoryBucket,
): ForecasterState {
  const value = bucket.sum / bucket.count;
  if (!state || state.levels.length !== spec.smoothers.length) {
    return {
      index: bucket.index,
      levels: spec.smoothers.map(() => value),
      errors: spec.smoothers.map(() => 0),
      dispersion: 0,
      dispersion2: 0,
      weight: 0,
    };
  }
  // A gap (no samples for a while) decays the memory as if those buckets had passed.
  const decay = decayPerBucket(spec) ** Math.max(1, bucket.index - state.index);
  const made = pointForecast(spec, state, state.levels, state.weights);
  const ahead = state.previous
    ? pointForecast(spec, state, state.previous, state.weights2 ?? state.weights)
    : made;
  const surprise = (value - made) ** 2 / Math.max(made, LEVEL_FLOOR);
  const errors = state.levels.map((level, i) => state.errors[i]! * decay + (value - level) ** 2);
  const levels = state.levels.map((level, i) => {
    const a = spec.smoothers[i]!;
    return a * value + (1 - a) * level;
  });
  let next: ForecasterState = {
    index: bucket.index,
    levels,
    errors,
    dispersion: state.dispersion * decay + surprise,
    dispersion2: (state.dispersion2 ?? 0) * decay + (value - ahead) ** 2 / Math.max(ahead, LEVEL_FLOOR),
    previous: state.levels,
    weight: state.weight * decay + 1,
  };
  if (spec.ridge !== undefined) {
    // Features are the levels before this bucket (one-ahead) and one bucket earlier (two-ahead).
    const x1 = [...state.levels, 1];
    const prior = x1.map((_, i) => (i === chosenCandidate(next) ? 1 : 0));
    const fit = foldObservation(fitOver(state.fit, x1.length), x1, value, decay);
    next = { ...next, fit, weights: solveRegression(fit, prior, spec.ridge) };
    if (state.previous) {
      const fit2 = foldObservation(fitOver(state.fit2, x1.length), [...state.previous, 1], value, decay);
      next = { ...next, fit2, weights2: solveRegression(fit2, prior, spec.ridge) };
    }
  }
  if (spec.noiseLags) {
    const noise = state.noise ?? [];
    const x = noiseFeatures(noise, spec.noiseLags);
    const noiseFit = foldObservation(fitOver(state.noiseFit, x.length), x, surprise, decay);
    const prior = x.map((_, i) => (i === 0 ? next.dispersion / next.weight : 0));
    next = {
      ...next,
      noise: [surprise, ...noise].slice(0, spec.noiseLags),
      noiseFit,
      noiseWeights: solveRegression(noiseFit, prior, spec.ridge ?? NOISE_RIDGE),
    };
  }
  return next;
}

/**
 * forecastLoad is the expected load `steps` buckets after the last one learnt (1 = the bucket
 * filling now or next) and its noise, or null before any history.
 */
export function forecastLoad(
  spec: ForecastSpec,
  state: ForecasterState | undefined,
  open: HistoryBucket | undefined,
  steps: 1 | 2 = 1,
): Forecast | null {
  if (!state) return open ? { level: open.sum / open.count, sigma: 0 } : null;
  // The bucket still filling is the freshest evidence: fold it in tentatively, as learnBucket will.
  const filling = open && open.index > state.index ? open.sum / open.count : undefined;
  const levels =
    filling === undefined
      ? state.levels
      : state.levels.map((l, k) => spec.smoothers[k]! * filling + (1 - spec.smoothers[k]!) * l);
  const level = pointForecast(
    spec,
    state,
    levels,
    steps === 2 ? (state.weights2 ?? state.weights) : state.weights,
  );
  if (state.weight <= 0) return { level, sigma: 0 };
  const mean = state.dispersion / state.weight;
  const spread = steps === 2 ? Math.max(state.dispersion, state.dispersion2 ?? 0) / state.weight : mean;
  let perLevel = spread;
  if (spec.noiseLags && state.noiseWeights?.length === spec.noiseLags + 1) {
    // The bucket still filling has already missed its forecast by this much: the newest lag.
    let noise = state.noise ?? [];
    if (filling !== undefined) {
      const made = pointForecast(spec, state, state.levels, state.weights);
      noise = [(filling - made) ** 2 / Math.max(made, LEVEL_FLOOR), ...noise];
    }
    const now = predict(state.noiseWeights, noiseFeatures(noise, spec.noiseLags));
    if (mean > 0) perLevel *= Math.max(NOISE_FLOOR * mean, now) / mean;
  }
  return { level, sigma: Math.sqrt(perLevel * Math.max(level, LEVEL_FLOOR)) };
}

const SQRT2 = Math.SQRT2;
const SQRT2PI = Math.sqrt(2 * Math.PI);

/** erfc is the complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** loadAbove is E[X · 1(X > x)] for X ~ Normal(mean, sigma): the demand that would find x instances full. */
export function loadAbove(mean: number, sigma: number, x: number): number {
  if (sigma <= 0) return mean > x ? mean : 0;
  const a = (x - mean) / sigma;
  return mean * 0.5 * erfc(a / SQRT2) + (sigma * Math.exp((-a * a) / 2)) / SQRT2PI;
}

/**
 * provisionFor is the fewest instances for a forecast (load in instances at the overload line): start
 * at the mean and add one while the overload it saves, priced at `violationCost`, exceeds its cost.
 */
export function provisionFor(forecast: Forecast, violationCost: number, max: number): number {
  const { level, sigma } = forecast;
  let n = Math.max(0, Math.ceil(level - 1e-9));
  while (n < max && violationCost * (loadAbove(level, sigma, n) - loadAbove(level, sigma, n + 1)) > 1) n++;
  return n;
}
