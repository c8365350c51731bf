/**
 * Prometheus traces: a PromQL range query (`GET /api/v1/query_range`) whose one series is a
 * request rate (e.g. `sum(rate(http_requests_total[1m]))`), fetched in chunks (Prometheus refuses
 * more than 11,000 points per series and query) and held per second like any timed trace.
 */
// The file itself, not metrics/index.ts: it imports no metric source's client, so the simulator
// stays free of their side effects.
import type { Response } from 'undici';
import { partialDataWarnings } from '../metrics/prometheus.js';
import { type PrometheusAccess, PrometheusHttp, PrometheusHttpError } from '../metrics/prometheus-http.js';
import { holdSamples, type TimedTrace, TraceError, type TracePoint } from './trace-points.js';

/** PROMETHEUS_MAX_POINTS is Prometheus' limit of points per series in one range query. */
export const PROMETHEUS_MAX_POINTS = 11_000;

/** PrometheusTraceOptions say what to fetch and from where (and how: a token file, a CA, headers). */
export interface PrometheusTraceOptions extends PrometheusAccess {
  /**
   * Prometheus base URL; a path prefix (`http://host/prometheus`) is kept, credentials
   * (`http://user:password@host`) are sent as HTTP Basic auth.
   */
  url: string;
  /** PromQL returning exactly one series of requests per second. */
  query: string;
  /** Unix seconds. */
  start: number;
  /** Unix seconds, inclusive. */
  end: number;
  /** Seconds between evaluations. @defaultValue 60 */
  step?: number;
  /** Longest interval (s) a value is held. @defaultValue the longer of 5 min and `step` */
  maxGap?: number;
  /** Per request, ms. @defaultValue 30000 */
  timeout?: number;
  /** Points per series and request. @defaultValue PROMETHEUS_MAX_POINTS */
  maxPoints?: number;
}

interface RangeResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
  /** The answer may be partial (a remote read or a store that failed); `infos` are notes, not read. */
  warnings?: string[];
}

/** PrometheusTrace is the fetched series, with what Prometheus warned of while answering. */
export interface PrometheusTrace extends TimedTrace {
  /**
   * Prometheus' warnings that the data may be partial (a failed remote read, a Thanos store that
   * did not answer), once each, PromQL info annotations left out. The replay runs on what came back.
   */
  warnings: string[];
}

/**
 * fetchPrometheusTrace runs the range query over `[start, end]` and returns its one series per
 * second, starting at its first sample (a series that begins after `start` starts later; one that
 * ends before `end` ends sooner). Throws a TraceError: Prometheus' own `errorType: error` verbatim,
 * how many series came back and their labels when that is not one, or the two times around a gap.
 */
export async function fetchPrometheusTrace(o: PrometheusTraceOptions): Promise<PrometheusTrace> {
  const step = o.step ?? 60;
  if (!(step > 0)) throw new TraceError('PROMETHEUS_ERROR', `step must be > 0, got ${step}`);
  const perQuery = Math.max(1, Math.floor(o.maxPoints ?? PROMETHEUS_MAX_POINTS));
  let http: PrometheusHttp;
  try {
    http = new PrometheusHttp(o, {
      bearerTokenFile: '--bearer-token-file',
      caFile: '--ca-file',
      url: 'the URL (http://user:password@host)',
    });
  } catch (err) {
    throw new TraceError('PROMETHEUS_UNREACHABLE', `Prometheus URL: ${(err as Error).message}`);
  }
  const series = new Map<string, { metric: Record<string, string>; values: [number, string][] }>();
  const warnings = new Set<string>();
  try {
    for (let from = o.start; from <= o.end; from += perQuery * step) {
      const to = Math.min(o.end, from + (perQuery - 1) * step);
      const answer = await queryRange(http, o, from, to, step);
      for (const warning of partialDataWarnings(answer.warnings)) warnings.add(warning);
      for (const s of answer.result) {
        const key = formatLabels(s.metric);
        const seen = series.get(key);
        if (seen) seen.values.push(...s.values);
        else series.set(key, { metric: s.metric, values: [...s.values] });
      }
    }
  } finally {
    await http.close();
  }
  if (series.size !== 1) {
    const names = [...series.keys()];
    const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … ${names.length - 5} more` : '');
    throw new TraceError(
      'PROMETHEUS_SERIES',
      `the query returned ${series.size} series between ${iso(o.start)} and ${iso(o.end)}, expected exactly 1` +
        (series.size === 0
          ? ' (no data in that range: check the query in Prometheus, and --since/--until)'
          : `: ${shown}; aggregate them, e.g. sum(${o.query})`),
    );
  }
  const [only] = series.values();
  const points: TracePoint[] = only!.values.map(([t, raw]) => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new TraceError(
        'PROMETHEUS_SERIES',
        `the query returned ${raw} at ${iso(t)}: not a rate ≥ 0 (requests per second)`,
      );
    }
    return { t, value };
  });
  const trace = holdSamples(points, {
    step,
    ...(o.maxGap === undefined ? {} : { maxGap: o.maxGap }),
    where: (k) => iso(points[k]!.t),
  });
  return { ...trace, warnings: [...warnings] };
}

async function queryRange(
  http: PrometheusHttp,
  o: PrometheusTraceOptions,
  start: number,
  end: number,
  step: number,
): Promise<{ result: NonNullable<RangeResponse['data']>['result']; warnings: unknown }> {
  const shown = http.shown;
  const url = http.endpoint('api/v1/query_range');
  url.searchParams.set('query', o.query);
  url.searchParams.set('start', String(start));
  url.searchParams.set('end', String(end));
  url.searchParams.set('step', String(step));
  const timeout = o.timeout ?? 30_000;
  let res: Response;
  let text: string;
  try {
    ({ response: res, body: text } = await http.get(url, timeout));
  } catch (err) {
    // get reads the body under the same deadline as the head, and names a timeout itself.
    const why =
      err instanceof PrometheusHttpError
        ? err.message
        : String(((err as Error).cause as Error | undefined)?.message ?? (err as Error).message);
    throw new TraceError('PROMETHEUS_UNREACHABLE', `Prometheus at ${shown}: ${why}`, { cause: err });
  }
  let body: RangeResponse | undefined;
  try {
    body = JSON.parse(text) as RangeResponse;
  } catch {
    body = undefined;
  }
  if (body?.status === 'error') {
    throw new TraceError('PROMETHEUS_ERROR', `Prometheus: ${body.errorType}: ${body.error}`);
  }
  if (!res.ok || body?.status !== 'success' || !body.data) {
    throw new TraceError(
      'PROMETHEUS_ERROR',
      `Prometheus at ${shown} answered HTTP ${res.status} without an API response` +
        (res.status === 401 || res.status === 403
          ? ` (${http.refusedHint()})`
          : " (is the URL Prometheus' base URL?)") +
        `: ${text.slice(0, 200)}`,
    );
  }
  if (body.data.resultType !== 'matrix') {
    throw new TraceError(
      'PROMETHEUS_SERIES',
      `the query returned a ${body.data.resultType}, not a range of samples (a matrix)`,
    );
  }
  return { result: body.data.result, warnings: body.warnings };
}

/** formatLabels writes a series' labels as PromQL does: `{job="web", path="/a"}`. */
function formatLabels(metric: Record<string, string>): string {
  const { __name__: name, ...labels } = metric;
  const inner = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(', ');
  return `${name ?? ''}{${inner}}`;
}

function iso(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}
