/**
 * The demand forecaster of the predictive stage, as pure functions over plain data:
 *
 *   learn:     when a history bucket closes, score every candidate's forecast of it (exponentially
 *              weighted squared error), learn the noise's dispersion (squared error / level), then
 *              move each candidate — an exponential moving average with its own smoothing factor —
 *              to the bucket's mean load
 *   predict:   the candidate with the smallest recent error forecasts the next bucket, including
 *              the bucket still filling (so a decision sees this minute's load at once)
 *   provision: the fewest instances n at which one more instance would save less than it costs:
 *              violationCost × (E[load above n] − E[load above n + 1]) ≤ 1, load ~ Normal(level,
 *              dispersion × level). The price of a violation sets the headroom, not a fixed σ count.
 *
 * Why several smoothers: noisy stationary traffic (many small clients) is forecast best by a slow
 * average, traffic that wanders like a random walk by the last value; which one a group has is
 * learnt from its own errors rather than configured. Why dispersion × level: counting noise grows
 * with the square root of the rate, so headroom follows the level through the day.
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
   * Set: forecast with a least-squares combination of all smoothers (and a constant), fitted
   * online to the group's own buckets and shrunk by this ridge towards the chosen smoother alone.
   * Unset: the chosen smoother alone.
   */
  ridge?: number;
  /**
   * Set (≥ 1): the noise is not one learnt constant but follows the last `noiseLags` squared
   * errors (a burst raises the spread of the next buckets), fitted like the level. Unset: constant.
   */
  noiseLags?: number;
  /** Set: price the noise by the learnt distribution of standardized errors instead of a Normal. */
  shape?: boolean;
}

/** ForecasterState is what the forecaster remembers: a few numbers per candidate, persisted as is. */
export interface ForecasterState {
  /** Index of the last bucket learnt. */
  index: number;
  /** Per candidate: its level (= its forecast of the next bucket). */
  levels: number[];
  /** Per candidate: weighted sum of squared one-step errors. */
  errors: number[];
  /** Weighted sum of squared error / max(level, LEVEL_FLOOR) of the chosen candidate. */
  dispersion: number;
  /** The same for forecasts made two buckets ahead (orders that become ready a bucket later). */
  dispersion2?: number;
  /** Per candidate: its level one bucket ago (its two-ahead forecast of this bucket). */
  previous?: number[];
  /** Sum of the weights of the errors so far (they decay together). */
  weight: number;
  /** With `ridge`: the fit of the next bucket on [...levels, 1], and its current weights. */
  fit?: Regression;
  weights?: number[];
  /** The same two buckets ahead (on the levels one bucket earlier). */
  fit2?: Regression;
  weights2?: number[];
  /** With `noiseLags`: the last squared errors per level (newest first), their fit, its weights. */
  noise?: number[];
  noiseFit?: Regression;
  noiseWeights?: number[];
  /** With `shape`: decayed counts of standardized one-bucket errors in SHAPE_BINS. */
  shape?: number[];
}

/** SHAPE_BINS: standardized errors from −6σ to +12σ in steps of 0.1σ (outside: the end bins). */
export const SHAPE_BINS = { from: -6, width: 0.1, count: 180 } as const;
/** SHAPE_MIN_WEIGHT: the learnt shape replaces the Normal once this many buckets (decayed) are in. */
const SHAPE_MIN_WEIGHT = 100;

/** LEVEL_FLOOR keeps an idle group's dispersion finite (load is in instances). */
const LEVEL_FLOOR = 0.1;

function decayPerBucket(spec: ForecastSpec): number {
  return 0.5 ** (spec.bucket / spec.errorHalfLife);
}

/** chosenCandidate is the candidate with the smallest recent error (the first on a tie). */
export function chosenCandidate(state: ForecasterState): number {
  let best = 0;
  for (let i = 1; i < state.errors.length; i++) if (state.errors[i]! < state.errors[best]!) best = i;
  return best;
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
  const x1 = [...state.levels, 1];
  const x2 = state.previous ? [...state.previous, 1] : x1;
  const chosen =
    spec.ridge !== undefined && state.weights
      ? Math.max(0, predict(state.weights, x1))
      : state.levels[chosenCandidate(state)]!;
  const ahead =
    spec.ridge !== undefined && state.weights2
      ? Math.max(0, predict(state.weights2, x2))
      : (state.previous?.[chosenCandidate(state)] ?? chosen);
  const errors = state.levels.map((level, i) => state.errors[i]! * decay + (value - level) ** 2);
  const dispersion = state.dispersion * decay + (value - chosen) ** 2 / Math.max(chosen, LEVEL_FLOOR);
  const dispersion2 = (state.dispersion2 ?? 0) * decay + (value - ahead) ** 2 / Math.max(ahead, LEVEL_FLOOR);
  const levels = state.levels.map((level, i) => {
    const a = spec.smoothers[i]!;
    return a * value + (1 - a) * level;
  });
  const next: ForecasterState = {
    index: bucket.index,
    levels,
    errors,
    dispersion,
    dispersion2,
    previous: state.levels,
    weight: state.weight * decay + 1,
  };
  const withNoise = spec.noiseLags ? learnNoise(spec, state, next, (value - chosen) ** 2 / Math.max(chosen, LEVEL_FLOOR), decay) : next;
  if (spec.shape) {
    const made = forecastLoad(spec, state, undefined, 1);
    const shape = (state.shape ?? new Array<number>(SHAPE_BINS.count).fill(0)).map((w) => w * decay);
    if (made && made.sigma > 0) {
      const z = (value - made.level) / made.sigma;
      const bin = Math.floor((z - SHAPE_BINS.from) / SHAPE_BINS.width);
      shape[Math.max(0, Math.min(SHAPE_BINS.count - 1, bin))]! += 1;
    }
    withNoise.shape = shape;
  }
  if (spec.ridge === undefined) return withNoise;
  const p = x1.length;
  const fit = foldObservation(state.fit ?? emptyRegression(p), x1, value, decay);
  const fit2 = state.previous ? foldObservation(state.fit2 ?? emptyRegression(p), x2, value, decay) : state.fit2;
  const prior = x1.map((_, i) => (i === chosenCandidate(next) ? 1 : 0));
  return {
    ...withNoise,
    fit,
    weights: solveRegression(fit, prior, spec.ridge),
    ...(fit2 && { fit2, weights2: solveRegression(fit2, prior, spec.ridge) }),
  };
}

function learnNoise(
  spec: ForecastSpec,
  state: ForecasterState,
  next: ForecasterState,
  z2: number,
  decay: number,
): ForecasterState {
  const lags = spec.noiseLags!;
  const noise = state.noise ?? [];
  const x = noiseFeatures(noise, lags);
  const noiseFit = foldObservation(state.noiseFit ?? emptyRegression(x.length), x, z2, decay);
  const prior = x.map((_, i) => (i === 0 ? next.dispersion / next.weight : 0));
  return {
    ...next,
    noise: [z2, ...noise].slice(0, lags),
    noiseFit,
    noiseWeights: solveRegression(noiseFit, prior, spec.ridge ?? 1e-3),
  };
}

function noiseFeatures(noise: readonly number[], lags: number): number[] {
  return [1, ...Array.from({ length: lags }, (_, i) => noise[i] ?? 0)];
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
  const weights = steps === 2 ? (state.weights2 ?? state.weights) : state.weights;
  const level =
    spec.ridge !== undefined && weights
      ? Math.max(0, predict(weights, [...levels, 1]))
      : levels[chosenCandidate(state)]!;
  const spread = steps === 2 ? Math.max(state.dispersion, state.dispersion2 ?? 0) : state.dispersion;
  let perLevel = state.weight > 0 ? spread / state.weight : 0;
  if (spec.noiseLags && state.noiseWeights && state.weight > 0) {
    // The bucket still filling has already missed its forecast by this much: the newest lag.
    let noise = state.noise ?? [];
    if (filling !== undefined) {
      const made =
        spec.ridge !== undefined && state.weights
          ? Math.max(0, predict(state.weights, [...state.levels, 1]))
          : state.levels[chosenCandidate(state)]!;
      noise = [(filling - made) ** 2 / Math.max(made, LEVEL_FLOOR), ...noise];
    }
    const mean = state.dispersion / state.weight;
    const now = Math.max(0.2 * mean, predict(state.noiseWeights, noiseFeatures(noise, spec.noiseLags)));
    perLevel *= now / Math.max(mean, 1e-12);
  }
  const sigma = Math.sqrt(perLevel * Math.max(level, LEVEL_FLOOR));
  const learnt = spec.shape && state.shape ? state.shape.reduce((a, b) => a + b, 0) : 0;
  return learnt >= SHAPE_MIN_WEIGHT ? { level, sigma, shape: state.shape!.map((w) => w / learnt) } : { level, sigma };
}

/** Forecast is a bucket's expected load, its spread, and (when learnt) the shape of its errors. */
export interface Forecast {
  level: number;
  sigma: number;
  /** Probabilities of SHAPE_BINS; unset: Normal. */
  shape?: readonly number[];
}

/** loadAboveShape is E[X · 1(X > x)] for X = level + σ·Z, Z distributed as `shape` (bin centres). */
export function loadAboveShape(level: number, sigma: number, shape: readonly number[], x: number): number {
  let sum = 0;
  for (let k = 0; k < shape.length; k++) {
    const v = level + sigma * (SHAPE_BINS.from + SHAPE_BINS.width * (k + 0.5));
    if (v > x) sum += shape[k]! * v;
  }
  return sum;
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
  const { level, sigma, shape } = forecast;
  const above = (x: number) =>
    shape && sigma > 0 ? loadAboveShape(level, sigma, shape, x) : loadAbove(level, sigma, x);
  let n = Math.max(0, Math.ceil(level - 1e-9));
  while (n < max && violationCost * (above(n) - above(n + 1)) > 1) n++;
  return n;
}
