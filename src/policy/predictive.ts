/**
 * Predictive scaling from the policy's own history, as pure stages:
 *
 *   observe:  fold load samples into fixed buckets (mean load per bucket), append-only
 *   forecast: for a future moment T and each season P (a day, a week): the load at T − P, times the
 *             trend (recent level / level one season earlier, bounded), averaged over seasons
 *   provision: the highest forecast between now and now + horizon (start-up time + interval),
 *             plus `deviations` × the standard deviation of recent load as headroom for noise
 *
 * The result is a floor under the reactive count, never a ceiling: prediction only adds capacity.
 */
import { type AppendLog, appendToLog, emptyLog } from './append-log.js';
import {
  type ForecasterState,
  type ForecastSpec,
  forecastLoad,
  learnBucket,
  provisionFor,
} from './forecast.js';
import { retentionOf } from './memory.js';
import type { HistoryBucket, LoadSample, Predictive } from './types.js';

/** HistoryState is the predictive part of the policy state. */
export interface HistoryState {
  history?: AppendLog<HistoryBucket>;
  openBucket?: HistoryBucket;
  forecaster?: ForecasterState;
}

/** DEFAULT_SMOOTHERS range from the last bucket alone to a ten-bucket average. */
export const DEFAULT_SMOOTHERS = [1, 0.5, 0.25, 0.1] as const;

/** forecastSpecOf is the forecaster's settings, or undefined when the spec prices no violation. */
export function forecastSpecOf(spec: Predictive): ForecastSpec | undefined {
  if (spec.violationCost === undefined) return undefined;
  return {
    smoothers: spec.smoothers ?? DEFAULT_SMOOTHERS,
    errorHalfLife: spec.errorHalfLife ?? 86_400_000,
    bucket: spec.bucket,
    violationCost: spec.violationCost,
    ...(spec.ridge !== undefined && { ridge: spec.ridge }),
    ...(spec.noiseLags !== undefined && { noiseLags: spec.noiseLags }),
  };
}

/** observeHistory folds samples into buckets; only closed buckets enter the shared log. */
export function observeHistory(
  spec: Predictive,
  state: HistoryState,
  samples: readonly LoadSample[],
): HistoryState {
  const learn = forecastSpecOf(spec);
  let history = state.history ?? emptyLog<HistoryBucket>();
  let open = state.openBucket;
  let forecaster = state.forecaster;
  for (const s of samples) {
    const index = Math.floor(s.at / spec.bucket);
    if (open && open.index !== index) {
      history = appendToLog(history, open);
      if (learn) forecaster = learnBucket(learn, forecaster, open);
      open = undefined;
    }
    open = open
      ? { index, sum: open.sum + s.load, count: open.count + 1, saturated: open.saturated || s.saturated }
      : { index, sum: s.load, count: 1, saturated: s.saturated };
  }
  // A controller runs for months: keep what the spec reads back (twice that before cutting, so
  // the copy is rare and the cost per bucket stays constant).
  const keep = Math.ceil(retentionOf(spec) / spec.bucket) + 1;
  if (history.length > 2 * keep) {
    history = { items: history.items.slice(history.length - keep, history.length), length: keep };
  }
  return {
    history,
    ...(open && { openBucket: open }),
    ...(forecaster && { forecaster }),
  };
}

/** bucketAt finds the closed bucket with `index` (binary search: indices only grow). */
export function bucketAt(log: AppendLog<HistoryBucket>, index: number): HistoryBucket | undefined {
  let lo = 0;
  let hi = log.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const b = log.items[mid]!;
    if (b.index === index) return b;
    if (b.index < index) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

function meanOver(log: AppendLog<HistoryBucket>, from: number, to: number): number | null {
  let sum = 0;
  let n = 0;
  for (let i = from; i <= to; i++) {
    const b = bucketAt(log, i);
    if (b) {
      sum += b.sum / b.count;
      n++;
    }
  }
  return n === 0 ? null : sum / n;
}

/** TREND_BOUNDS keep one odd day from doubling or erasing a forecast. */
const TREND_BOUNDS = [0.5, 2] as const;

/** forecastPeak is the highest forecast load within (now, now + horizon], or null without a season of history. */
export function forecastPeak(spec: Predictive, log: AppendLog<HistoryBucket>, now: number): number | null {
  if (log.length === 0) return null;
  const nowIndex = Math.floor(now / spec.bucket);
  const lastIndex = nowIndex - 1;
  const trendBuckets = Math.max(1, Math.round(spec.trendWindow / spec.bucket));
  const horizonBuckets = Math.max(1, Math.ceil(spec.horizon / spec.bucket));
  let peak: number | null = null;
  const recent = meanOver(log, lastIndex - trendBuckets + 1, lastIndex);
  const perSeason: { lag: number; trend: number }[] = [];
  for (const season of spec.seasons) {
    const lag = Math.round(season / spec.bucket);
    const before = meanOver(log, lastIndex - lag - trendBuckets + 1, lastIndex - lag);
    if (before === null || recent === null) continue;
    const trend = before > 0 ? Math.min(TREND_BOUNDS[1], Math.max(TREND_BOUNDS[0], recent / before)) : 1;
    perSeason.push({ lag, trend });
  }
  if (perSeason.length === 0) return null;
  const half = Math.floor(Math.max(0, spec.smoothing / spec.bucket) / 2);
  for (let k = 0; k <= horizonBuckets; k++) {
    let sum = 0;
    let n = 0;
    for (const { lag, trend } of perSeason) {
      const at = nowIndex + k - lag;
      const level = meanOver(log, at - half, at + half);
      if (level !== null) {
        sum += level * trend;
        n++;
      }
    }
    if (n > 0) peak = Math.max(peak ?? 0, sum / n);
  }
  return peak;
}

/** recentSpread is the mean and standard deviation of load over `window` before `now`. */
export function recentSpread(
  samples: readonly LoadSample[],
  window: number,
  now: number,
): { mean: number; deviation: number } | null {
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    if (s.at <= now - window) break;
    sum += s.load;
    sq += s.load * s.load;
    n++;
  }
  if (n === 0) return null;
  const mean = sum / n;
  return { mean, deviation: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

/**
 * bucketNoise is the minute-to-minute noise of load over `window`: the root mean square of
 * successive bucket differences / √2. Differences cancel a rising or falling level, so a ramp is
 * not mistaken for noise.
 */
export function bucketNoise(
  log: AppendLog<HistoryBucket>,
  window: number,
  bucket: number,
  now: number,
): number | null {
  const from = Math.floor((now - window) / bucket);
  let prev: number | undefined;
  let prevIndex = -1;
  let sq = 0;
  let n = 0;
  for (let i = log.length - 1; i >= 0; i--) {
    const b = log.items[i]!;
    if (b.index < from) break;
    const v = b.sum / b.count;
    if (prev !== undefined && prevIndex === b.index + 1) {
      sq += (prev - v) ** 2;
      n++;
    }
    prev = v;
    prevIndex = b.index;
  }
  return n === 0 ? null : Math.sqrt(sq / n / 2);
}

/**
 * predictiveFloor is the count prediction asks for, or 0 when it has nothing to say: the larger of
 * the seasonal part (when `seasons` lists any) and the learnt forecaster's (when `violationCost` is set).
 */
export function predictiveFloor(
  spec: Predictive,
  state: HistoryState,
  recent: readonly LoadSample[],
  now: number,
  target = 0,
  max = Number.POSITIVE_INFINITY,
): number {
  // Load is in instances at the metric's target; the forecast provisions to `utilization` instead,
  // since its headroom is the noise term, not the target's margin.
  const scale = spec.utilization ? target / spec.utilization : 1;
  const learn = forecastSpecOf(spec);
  let learnt = 0;
  if (learn) {
    // Instances asked for now serve from now + start-up until the next decision's are ready
    // (now + horizon): when that reaches past the next bucket, the forecast is two buckets out.
    const serving = Math.floor((now + spec.horizon - 1) / spec.bucket) - Math.floor((now - 1) / spec.bucket);
    const provision = (steps: 1 | 2) => {
      const f = forecastLoad(learn, state.forecaster, state.openBucket, steps);
      return f
        ? provisionFor({ ...f, level: f.level * scale, sigma: f.sigma * scale }, learn.violationCost, max)
        : 0;
    };
    learnt = provision(serving >= 2 ? 2 : 1);
    // Orders two buckets out must not release what the next bucket needs: the instances there now
    // are all it will have until those orders are ready.
    if (serving >= 2) learnt = Math.max(learnt, provision(1));
  }
  if (spec.seasons.length === 0 && learn) return learnt;
  return Math.max(learnt, seasonalFloor(spec, state, recent, now, scale));
}

function seasonalFloor(
  spec: Predictive,
  state: HistoryState,
  recent: readonly LoadSample[],
  now: number,
  scale: number,
): number {
  const spread = recentSpread(recent, spec.levelWindow, now);
  const seasonal = state.history ? forecastPeak(spec, state.history, now) : null;
  const level = Math.max(seasonal ?? 0, spread?.mean ?? 0);
  if (level === 0) return 0;
  const noise = state.history ? (bucketNoise(state.history, spec.deviationWindow, spec.bucket, now) ?? 0) : 0;
  return Math.ceil((level + spec.deviations * noise) * scale - 1e-9);
}
