/**
 * PrometheusSource runs a PromQL instant query over the HTTP API (`GET /api/v1/query`) and sums
 * the resulting vector (or takes the scalar): one total for the group, e.g.
 * `sum(rate(http_requests_total{job="web"}[1m]))` with a per-instance target.
 */
import type { Response } from 'undici';
import { type PrometheusAccess, PrometheusHttp } from './prometheus-http.js';
import { type MetricSource, MetricSourceError } from './source.js';

/** PrometheusSourceOptions configures one query: the server and how to reach it, and the query. */
export interface PrometheusSourceOptions extends PrometheusAccess {
  /**
   * Prometheus base URL; `http://user:password@host:9090` is sent as HTTP Basic auth.
   * @defaultValue 'http://127.0.0.1:9090'
   */
  url: string;
  query: string;
  /**
   * How long Prometheus may evaluate the query, ms: sent as the query's `timeout` parameter, so
   * Prometheus gives up itself (503, errorType `timeout`) rather than running on after we stopped
   * waiting; the HTTP request waits ANSWER_GRACE_MS longer for that answer. Before, only the HTTP
   * request had a timeout (5 s, fixed) and Prometheus kept evaluating an abandoned query up to its
   * own `--query.timeout` (2 min by default). @defaultValue 5000
   */
  timeout?: number;
  /**
   * What an answer carrying `warnings` counts as. Prometheus answers `success` with warnings when
   * the data may be incomplete (a remote-read endpoint failed, Thanos partial responses, a query
   * that hit a limit): `missing` (the default) fails the read, so the policy holds instead of
   * scaling down on a sum that lacks some series; `use` takes the value anyway.
   * @defaultValue 'missing'
   */
  onWarnings?: 'missing' | 'use';
}

/** QuerySample is one series of a vector: a float `value`, or a native `histogram` instead. */
interface QuerySample {
  value?: [number, string];
  histogram?: unknown;
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  /** `bad_data` (the query), `execution` (422: too many samples, …), `timeout`, `unavailable` (503), … */
  errorType?: string;
  /**
   * Present when the answer may be partial. `infos` (2.54 on) are only notes and are not read;
   * older servers put those notes here too (see partialDataWarnings).
   */
  warnings?: string[];
  data?: {
    resultType: 'vector' | 'scalar' | 'matrix' | 'string';
    result: QuerySample[] | [number, string];
  };
}

/**
 * ANSWER_GRACE_MS is how much longer than the query's `timeout` the HTTP request waits: for
 * Prometheus' own timeout answer to come back, so its error (which names where the evaluation
 * stopped) is what the read fails with.
 */
export const ANSWER_GRACE_MS = 1000;

/** DEFAULT_QUERY_TIMEOUT_MS is the query's `timeout` when none is given (`timeout: 5s`). */
export const DEFAULT_QUERY_TIMEOUT_MS = 5000;

/** PrometheusSource is a PromQL instant query as a group total. */
export class PrometheusSource implements MetricSource {
  readonly name = 'prometheus';
  readonly kind = 'total' as const;
  /** The HTTP request's timeout: the query's, plus ANSWER_GRACE_MS. */
  readonly readTimeout: number;
  readonly #options: PrometheusSourceOptions;
  readonly #http: PrometheusHttp;
  /** Throws an Error for a URL that does not parse or has badly encoded credentials. */
  constructor(options: PrometheusSourceOptions) {
    const timeout = options.timeout ?? DEFAULT_QUERY_TIMEOUT_MS;
    if (!(timeout > 0)) throw new RangeError(`timeout must be positive, got ${timeout}`);
    this.readTimeout = timeout + ANSWER_GRACE_MS;
    this.#options = options;
    this.#http = new PrometheusHttp(options, {
      bearerTokenFile: 'bearer_token_file',
      caFile: 'ca_file',
      url: 'url',
    });
  }
  async read(): Promise<number[]> {
    const shown = this.#http.shown;
    const url = this.#http.endpoint('api/v1/query');
    url.searchParams.set('query', this.#options.query);
    // Whole milliseconds (the config's durations are), which Prometheus' duration syntax reads.
    url.searchParams.set('timeout', `${Math.ceil(this.#options.timeout ?? DEFAULT_QUERY_TIMEOUT_MS)}ms`);
    let res: Response;
    let text: string;
    try {
      ({ response: res, body: text } = await this.#http.get(url, this.readTimeout));
    } catch (err) {
      throw new MetricSourceError('SOURCE_FAILED', `prometheus at ${shown}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (res.status === 401 || res.status === 403) {
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `prometheus at ${shown} refused the request (${res.status} ${res.statusText}): ${this.#http.refusedHint()}`,
      );
    }
    // Every error names the query: two `prometheus` metrics of a group are told apart by it.
    const what = `prometheus query ${JSON.stringify(this.#options.query)} at ${shown}`;
    const body = parseJson(text) as QueryResponse | undefined;
    if (!res.ok || body?.status !== 'success' || !body.data) {
      const kind = body?.errorType === undefined ? '' : ` ${body.errorType}`;
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `${what}: ${res.status}${kind}: ${body?.error ?? 'unexpected response'}`,
      );
    }
    // Before, a partial answer was summed as if complete: a remote-read endpoint refusing
    // connections left `sum(...) or vector(0)` at 0 and the group scaled in on it.
    const warnings = partialDataWarnings(body.warnings);
    if (warnings.length > 0 && (this.#options.onWarnings ?? 'missing') === 'missing') {
      throw new MetricSourceError(
        'SOURCE_BAD_RESPONSE',
        `${what} answered with warnings (the data may be partial): ${warnings.join('; ')}`,
      );
    }
    const { resultType, result } = body.data;
    if (resultType === 'scalar') return [sampleValue(result as [number, string], what)];
    if (resultType !== 'vector') {
      throw new MetricSourceError(
        'SOURCE_BAD_RESPONSE',
        `${what} returned a ${resultType}, not a vector or scalar` +
          (resultType === 'matrix' ? ' (a range selector: wrap it in rate() or an …_over_time())' : ''),
      );
    }
    const series = result as QuerySample[];
    // An empty vector means the series does not exist (yet): missing, not zero.
    if (series.length === 0) throw new MetricSourceError('SOURCE_BAD_RESPONSE', `${what} returned no series`);
    return [series.reduce((sum, s) => sum + sampleValue(s.value, what, s.histogram !== undefined), 0)];
  }
  async close(): Promise<void> {
    await this.#http.close();
  }
}

/** PROMQL_INFO begins an info annotation's text (Prometheus' `annotations.PromQLInfo`). */
const PROMQL_INFO = 'PromQL info';

/**
 * partialDataWarnings is an answer's `warnings` less PromQL info annotations: notes that may be
 * false positives ("metric might not be a counter, name does not end in _total/…" for a rate() of
 * a counter named otherwise; "input to histogram_quantile needed to be fixed for monotonicity",
 * common with classic histograms), not a sign of partial data. Prometheus 2.48 to 2.53 answered
 * them in `warnings` (2.54 moved them to `infos`), as a Thanos querier still may: with
 * `on_warnings: missing`, the default, `sum(rate(jobs_processed[1m]))` was then missing on every
 * read, and a p95 from histogram_quantile whenever its buckets needed the fix.
 */
export function partialDataWarnings(warnings: unknown): string[] {
  if (!Array.isArray(warnings)) return [];
  return warnings.map(String).filter((w) => !w.startsWith(`${PROMQL_INFO}:`));
}

/**
 * sampleValue is a sample's number. Prometheus writes `NaN`, `+Inf` and `-Inf` as such (0/0, a
 * rate over a 0 divisor, histogram_quantile with no observation): refused here, naming them and the
 * query, where before Number('+Inf') became NaN and the failure read "non-numeric value NaN".
 */
function sampleValue(value: [number, string] | undefined, what: string, histogram = false): number {
  if (histogram && value === undefined) {
    throw new MetricSourceError(
      'SOURCE_BAD_RESPONSE',
      `${what} returned a native histogram, not a number (take histogram_count, histogram_sum or histogram_quantile of it)`,
    );
  }
  const raw = Array.isArray(value) ? value[1] : undefined;
  const number = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
  if (!Number.isFinite(number)) {
    throw new MetricSourceError(
      'SOURCE_BAD_RESPONSE',
      `${what} returned ${JSON.stringify(raw ?? value)}, not a finite number`,
    );
  }
  return number;
}

/** parseJson is `text` parsed, or undefined when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
