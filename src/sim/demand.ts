/**
 * Demand of the standard experiment: a trace of per-second counts, cut to a window, averaged per
 * `aggregate` seconds (held constant within each), scaled so the window's peak equals
 * `peakInstances × capacity` requests per second — or, with `absolute`, left as it is.
 */

import { TraceError } from './trace-points.js';

/**
 * parseWorkload reads a `workload.txt`: whitespace-separated request counts, one per second. A value
 * that is not a count ≥ 0 is refused with its line and place on the line; before, it was read as
 * NaN, and the replay failed with `Invalid array length` (a negative count was replayed as is).
 */
export function parseWorkload(text: string): Float64Array {
  const parts = text.trim().split(/\s+/);
  if (parts.length === 1 && parts[0] === '')
    throw new TraceError('TRACE_EMPTY', 'no request counts (a workload.txt holds one per second)');
  const out = new Float64Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const value = Number(parts[i]);
    // Also false for NaN: `x`, `1,5`.
    if (!(value >= 0 && value < Number.POSITIVE_INFINITY)) {
      const { line, column } = placeOf(text, i);
      throw new TraceError(
        'TRACE_BAD_LINE',
        `line ${line}, value ${column}: ${JSON.stringify(parts[i]!.slice(0, 40))} is not a request count (a number ≥ 0)`,
        { line },
      );
    }
    out[i] = value;
  }
  return out;
}

/** placeOf finds the 1-based line of the `index`-th value of `text`, and its place on that line. */
function placeOf(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let column = 0;
  let seen = -1;
  for (const match of text.matchAll(/\S+|\n/g)) {
    if (match[0] === '\n') {
      line++;
      column = 0;
      continue;
    }
    column++;
    if (++seen === index) break;
  }
  return { line, column };
}

/** DemandOptions shape the replayed demand. */
export interface DemandOptions {
  /** First second (trace index), inclusive. @defaultValue 0 */
  from: number;
  /** Last second, exclusive. @defaultValue the trace's end */
  to?: number;
  /** Seconds averaged into one held rate. @defaultValue 60 */
  aggregate: number;
  /** The window's peak rate equals peakInstances × capacity. @defaultValue 20 */
  peakInstances: number;
  /** req/s one instance serves at 100 % CPU. @defaultValue 100 */
  capacity: number;
  /** Replay the rates as they are (req/s), ignoring `peakInstances`. @defaultValue false */
  absolute?: boolean;
}

/** Demand is the per-second request rate the simulator replays, and how it was made. */
export interface Demand {
  rate: Float64Array;
  /** Multiplier applied to the trace's aggregated rate (1 when absolute). */
  scale: number;
  from: number;
  to: number;
}

/** buildDemand aggregates and (unless absolute) scales a window of a trace. */
export function buildDemand(trace: Float64Array, o: DemandOptions): Demand {
  const from = Math.max(0, Math.min(o.from, trace.length));
  const to = Math.max(from, Math.min(o.to ?? trace.length, trace.length));
  const n = to - from;
  const rate = new Float64Array(n);
  const agg = Math.max(1, Math.floor(o.aggregate));
  let peak = 0;
  for (let start = 0; start < n; start += agg) {
    const end = Math.min(n, start + agg);
    let sum = 0;
    for (let i = start; i < end; i++) sum += trace[from + i]!;
    const mean = sum / (end - start);
    for (let i = start; i < end; i++) rate[i] = mean;
    if (mean > peak) peak = mean;
  }
  const scale = o.absolute ? 1 : peak > 0 ? (o.peakInstances * o.capacity) / peak : 0;
  if (scale !== 1) for (let i = 0; i < n; i++) rate[i] = rate[i]! * scale;
  return { rate, scale, from, to };
}
