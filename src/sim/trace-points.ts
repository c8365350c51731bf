/**
 * Timed traces: samples of a request rate at given times (a CSV export, a Prometheus range query)
 * turned into the per-second series the simulator replays. Each value holds until the next sample;
 * an interval longer than the gap bound is traffic nobody measured, so it is refused rather than
 * guessed (an absent scrape is unknown, not zero, and holding a value for hours invents traffic).
 */

/** DEFAULT_MAX_GAP_S is Prometheus' default lookback delta: after 5 min without a sample a series is absent. */
export const DEFAULT_MAX_GAP_S = 300;
/** MAX_TRACE_SECONDS bounds the per-second series (a year, ~250 MB of doubles). */
export const MAX_TRACE_SECONDS = 366 * 86_400;

/** TraceError is a trace that cannot be read, with a stable code and, for files, the 1-based line. */
export class TraceError extends Error {
  override readonly name = 'TraceError';
  readonly code:
    | 'TRACE_BAD_LINE'
    | 'TRACE_TIME_ORDER'
    | 'TRACE_GAP'
    | 'TRACE_EMPTY'
    | 'TRACE_TOO_LONG'
    | 'PROMETHEUS_ERROR'
    | 'PROMETHEUS_UNREACHABLE'
    | 'PROMETHEUS_SERIES';
  readonly line: number | undefined;
  constructor(code: TraceError['code'], message: string, options?: { line?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.line = options?.line;
  }
}

/** TracePoint is one sample: `t` in unix seconds (fractions allowed), `value` in requests per second. */
export interface TracePoint {
  t: number;
  value: number;
}

/** TimedTrace is a per-second series and the unix second its index 0 stands for. */
export interface TimedTrace {
  perSecond: Float64Array;
  /** Unix seconds of index 0 (the first sample). */
  start: number;
}

/** HoldOptions bound how far a sample is held. */
export interface HoldOptions {
  /**
   * Longest interval (s) between two samples across which the earlier value is held.
   * @defaultValue the longer of 5 min and `step`
   */
  maxGap?: number;
  /** The series' usual interval (s), when known. @defaultValue the median interval between samples */
  step?: number;
  /** Names sample `i` in errors ("line 7", "2024-05-01T10:00:00Z"). */
  where: (i: number) => string;
  /** How a user raises the bound, for the gap error. @defaultValue '--max-gap' */
  maxGapFlag?: string;
}

/**
 * holdSamples turns samples with strictly increasing times into a per-second series: second `i`
 * is the time-weighted mean over `[start + i, start + i + 1)` of the latest sample at or before
 * each instant, so whole-second samples are simply held until the next one. The series runs from
 * the first sample to the second of the last one. Throws a TraceError naming the two samples
 * around a gap longer than the bound.
 */
export function holdSamples(points: readonly TracePoint[], o: HoldOptions): TimedTrace {
  if (points.length === 0) throw new TraceError('TRACE_EMPTY', 'the trace has no samples');
  const start = points[0]!.t;
  const last = points[points.length - 1]!.t;
  const maxGap = o.maxGap ?? Math.max(DEFAULT_MAX_GAP_S, o.step ?? medianInterval(points));
  for (let k = 1; k < points.length; k++) {
    const gap = points[k]!.t - points[k - 1]!.t;
    if (!(gap > 0)) {
      throw new TraceError(
        'TRACE_TIME_ORDER',
        `${o.where(k)} is not after ${o.where(k - 1)}: times must increase`,
      );
    }
    if (gap > maxGap) {
      throw new TraceError(
        'TRACE_GAP',
        `${formatSeconds(gap)} without a sample between ${o.where(k - 1)} and ${o.where(k)}, ` +
          `more than the ${formatSeconds(maxGap)} a value is held: the traffic in between is unknown ` +
          `(not zero); cut the trace around it or raise ${o.maxGapFlag ?? '--max-gap'}`,
      );
    }
  }
  const n = Math.floor(last - start) + 1;
  if (n > MAX_TRACE_SECONDS) {
    throw new TraceError(
      'TRACE_TOO_LONG',
      `the trace spans ${formatSeconds(last - start)} from ${o.where(0)} to ${o.where(points.length - 1)}, ` +
        `more than the ${MAX_TRACE_SECONDS / 86_400} days the simulator replays`,
    );
  }
  const perSecond = new Float64Array(n);
  for (let k = 0; k < points.length; k++) {
    const a = points[k]!.t - start;
    const b = k + 1 < points.length ? points[k + 1]!.t - start : n;
    const v = points[k]!.value;
    // Add v × (overlap of [a, b) with [i, i + 1)) to every second the segment touches.
    for (let i = Math.floor(a); i < b && i < n; i++) {
      perSecond[i] = perSecond[i]! + v * (Math.min(b, i + 1) - Math.max(a, i));
    }
  }
  return { perSecond, start };
}

function medianInterval(points: readonly TracePoint[]): number {
  if (points.length < 2) return 0;
  const gaps = points.slice(1).map((p, i) => p.t - points[i]!.t);
  gaps.sort((x, y) => x - y);
  return gaps[Math.floor(gaps.length / 2)]!;
}

/** formatSeconds writes a duration as the largest units that keep it short: `90 s`, `2 h 5 min`. */
export function formatSeconds(s: number): string {
  if (s < 120) return `${Math.round(s * 1000) / 1000} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min${s % 60 >= 1 ? ` ${Math.round(s % 60)} s` : ''}`;
  if (s < 172_800)
    return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.round((s / 86_400) * 10) / 10} days`;
}
