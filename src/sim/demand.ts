/**
 * Demand of the standard experiment: a trace of per-second counts, cut to a window, averaged per
 * `aggregate` seconds (held constant within each), scaled so the window's peak equals
 * `peakInstances × capacity` requests per second — or, with `absolute`, left as it is.
 */

/** parseWorkload reads a `workload.txt`: space-separated integers, one per second. */
export function parseWorkload(text: string): Float64Array {
  const parts = text.trim().split(/\s+/);
  const out = new Float64Array(parts.length);
  for (let i = 0; i < parts.length; i++) out[i] = Number(parts[i]);
  return out;
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
