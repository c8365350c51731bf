/**
 * What the predictive stage must not forget across a restart — its bucket history (the seasons)
 * and the learnt forecaster — as plain JSON data, and back. Pure: the caller reads and writes it.
 */
import { appendToLog, emptyLog } from './append-log.js';
import type { ForecasterState } from './forecast.js';
import { STARTUP_SAMPLES } from './startup.js';
import type { HistoryBucket, Predictive, ScalingState } from './types.js';

/** A bucket as stored: [index, sum, count, saturated 0|1]. */
type StoredBucket = [number, number, number, number];

/** PredictiveMemory is the persisted predictive state of one group. */
export interface PredictiveMemory {
  version: 1;
  /** Bucket length the history was kept in, ms: another length makes it meaningless. */
  bucket: number;
  buckets: StoredBucket[];
  open?: StoredBucket;
  forecaster?: ForecasterState;
  /** The last start→ready durations the controller measured, ms, oldest first (startup.ts). */
  startups?: number[];
}

/** retentionOf is how much history the spec ever reads back, ms. */
export function retentionOf(spec: Predictive): number {
  const longestSeason = Math.max(0, ...spec.seasons);
  const seasonal = longestSeason + spec.smoothing + spec.trendWindow + spec.horizon;
  return Math.max(seasonal, spec.deviationWindow) + spec.bucket;
}

const stored = (b: HistoryBucket): StoredBucket => [b.index, b.sum, b.count, b.saturated ? 1 : 0];
const bucketOf = ([index, sum, count, saturated]: StoredBucket): HistoryBucket => ({
  index,
  sum,
  count,
  saturated: saturated === 1,
});

/**
 * memoryOf is the state's predictive memory, history cut to what the spec reads back, with the
 * measured start-ups that set its horizon (so a restart does not fall back to a guess).
 */
export function memoryOf(
  spec: Predictive,
  state: ScalingState,
  startups: readonly number[] = [],
): PredictiveMemory {
  const history = state.history;
  const buckets: StoredBucket[] = [];
  if (history && history.length > 0) {
    const newest = history.items[history.length - 1]!.index;
    const oldest = newest - Math.ceil(retentionOf(spec) / spec.bucket);
    for (let i = 0; i < history.length; i++) {
      const b = history.items[i]!;
      if (b.index > oldest) buckets.push(stored(b));
    }
  }
  return {
    version: 1,
    bucket: spec.bucket,
    buckets,
    ...(state.openBucket && { open: stored(state.openBucket) }),
    ...(state.forecaster && { forecaster: state.forecaster }),
    ...(startups.length > 0 && { startups: startups.slice(-STARTUP_SAMPLES) }),
  };
}

function isStoredBucket(v: unknown): v is StoredBucket {
  return Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

function isRegression(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const { gram, moments } = v as Record<string, unknown>;
  const numbers = (a: unknown): a is number[] =>
    Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  return numbers(gram) && numbers(moments) && gram.length === moments.length * moments.length;
}

function isForecaster(v: unknown): v is ForecasterState {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  const numbers = (a: unknown) =>
    Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  return (
    typeof f.index === 'number' &&
    typeof f.dispersion === 'number' &&
    typeof f.weight === 'number' &&
    numbers(f.levels) &&
    numbers(f.errors) &&
    (f.levels as number[]).length === (f.errors as number[]).length &&
    // The learnt combination and noise (forecast.ts) are optional; when stored they must be numbers.
    ['previous', 'weights', 'weights2', 'noise', 'noiseWeights'].every(
      (k) => f[k] === undefined || numbers(f[k]),
    ) &&
    ['fit', 'fit2', 'noiseFit'].every((k) => f[k] === undefined || isRegression(f[k]))
  );
}

/**
 * restoreMemory puts a persisted memory into a state. Anything that does not fit (another version
 * or bucket length, malformed data) is ignored: the policy then starts forgetful, as before.
 */
export function restoreMemory(
  spec: Predictive,
  state: ScalingState,
  memory: unknown,
): { state: ScalingState; restored: number; startups: number[] } {
  const none = { state, restored: 0, startups: [] };
  if (typeof memory !== 'object' || memory === null) return none;
  const m = memory as Partial<PredictiveMemory>;
  if (m.version !== 1 || m.bucket !== spec.bucket || !Array.isArray(m.buckets)) return none;
  if (!m.buckets.every(isStoredBucket)) return none;
  // Start-ups do not depend on the history: kept even when it is cut short below.
  const startups =
    Array.isArray(m.startups) &&
    m.startups.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)
      ? m.startups.slice(-STARTUP_SAMPLES)
      : [];
  let history = emptyLog<HistoryBucket>();
  let last = Number.NEGATIVE_INFINITY;
  for (const raw of m.buckets) {
    const b = bucketOf(raw);
    // Indices only grow in a log bucketAt searches by bisection.
    if (b.index <= last || b.count <= 0) return { ...none, startups };
    history = appendToLog(history, b);
    last = b.index;
  }
  const open = m.open && isStoredBucket(m.open) && m.open[0] > last ? bucketOf(m.open) : undefined;
  const forecaster = isForecaster(m.forecaster) ? m.forecaster : undefined;
  return {
    state: {
      ...state,
      history,
      ...(open && { openBucket: open }),
      ...(forecaster && { forecaster }),
    },
    restored: history.length,
    startups,
  };
}
