/**
 * PrometheusSource runs a PromQL instant query over the HTTP API (`GET /api/v1/query`) and sums
 * the resulting vector (or takes the scalar): one total for the group, e.g.
 * `sum(rate(http_requests_total{job="web"}[1m]))` with a per-instance target.
 */
import { readFile } from 'node:fs/promises';
import { Agent, fetch, type Response } from 'undici';
import { type MetricSource, MetricSourceError } from './source.js';
import { type CredentialedUrl, splitCredentials } from './url-credentials.js';

/** PrometheusSourceOptions configures one query. */
export interface PrometheusSourceOptions {
  /**
   * Prometheus base URL; `http://user:password@host:9090` is sent as HTTP Basic auth.
   * @defaultValue 'http://127.0.0.1:9090'
   */
  url: string;
  query: string;
  /** ms. @defaultValue 5000 */
  timeout?: number;
  /**
   * What an answer carrying `warnings` counts as. Prometheus answers `success` with warnings when
   * the data may be incomplete (a remote-read endpoint failed, Thanos partial responses, a query
   * that hit a limit): `missing` (the default) fails the read, so the policy holds instead of
   * scaling down on a sum that lacks some series; `use` takes the value anyway.
   * @defaultValue 'missing'
   */
  onWarnings?: 'missing' | 'use';
  /**
   * A file holding a bearer token, sent as `Authorization: Bearer …` (a Thanos querier or Mimir
   * behind an auth proxy, a Kubernetes service account token). Read on every query, as Prometheus
   * reads its own `credentials_file`: a projected token is rotated on disk while Scaleplane runs.
   */
  bearerTokenFile?: string;
  /** PEM file of the CA(s) that signed an https Prometheus's certificate (a private or cluster CA). */
  caFile?: string;
  /** More request headers, e.g. `X-Scope-OrgID` for a multi-tenant Mimir, Cortex or Loki. */
  headers?: Record<string, string>;
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
  /** Present when the answer may be partial (`infos`, newer, are only notes and are not read). */
  warnings?: string[];
  data?: {
    resultType: 'vector' | 'scalar' | 'matrix' | 'string';
    result: QuerySample[] | [number, string];
  };
}

/** PrometheusSource is a PromQL instant query as a group total. */
export class PrometheusSource implements MetricSource {
  readonly name = 'prometheus';
  readonly kind = 'total' as const;
  readonly #options: PrometheusSourceOptions;
  readonly #target: CredentialedUrl;
  /** The connection pool trusting `caFile`, made at the first read (undefined: the system's CAs). */
  #dispatcher: Promise<Agent> | undefined;
  /** Throws an Error for a URL that does not parse or has badly encoded credentials. */
  constructor(options: PrometheusSourceOptions) {
    this.#options = options;
    this.#target = splitCredentials(options.url);
  }
  async read(): Promise<number[]> {
    // Relative to the URL's path: a Prometheus behind a proxy path or run with --web.route-prefix
    // (`http://h/prom`) answers at /prom/api/v1/query, which an absolute '/api/v1/query' dropped.
    const { url: bare, shown } = this.#target;
    const url = new URL('api/v1/query', bare.endsWith('/') ? bare : `${bare}/`);
    url.searchParams.set('query', this.#options.query);
    const headers = { ...this.#options.headers, ...this.#target.headers, ...(await this.#bearer()) };
    const dispatcher = await this.#trusting();
    let res: Response;
    try {
      res = await fetch(url, {
        headers,
        signal: AbortSignal.timeout(this.#options.timeout ?? 5000),
        ...(dispatcher && { dispatcher }),
      });
    } catch (err) {
      const cause = (err as Error).cause as (Error & { code?: string }) | undefined;
      const why = cause?.message ?? (err as Error).message;
      // Node names a certificate it cannot check by its OpenSSL code, not by what to do about it.
      const hint =
        cause?.code !== undefined && TLS_TRUST_CODES.has(cause.code) && this.#options.caFile === undefined
          ? ' (a private CA signed its certificate: give its PEM as ca_file)'
          : '';
      throw new MetricSourceError('SOURCE_FAILED', `prometheus at ${shown}: ${why}${hint}`, { cause: err });
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      const check = this.#options.bearerTokenFile
        ? `check the token in bearer_token_file ${this.#options.bearerTokenFile}`
        : this.#target.headers.authorization
          ? 'check the user and password in url'
          : 'it wants credentials: user:password in url, or bearer_token_file';
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `prometheus at ${shown} refused the request (${res.status} ${res.statusText}): ${check}`,
      );
    }
    // Every error names the query: two `prometheus` metrics of a group are told apart by it.
    const what = `prometheus query ${JSON.stringify(this.#options.query)} at ${shown}`;
    const body = (await res.json().catch(() => undefined)) as QueryResponse | undefined;
    if (!res.ok || body?.status !== 'success' || !body.data) {
      const kind = body?.errorType === undefined ? '' : ` ${body.errorType}`;
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `${what}: ${res.status}${kind}: ${body?.error ?? 'unexpected response'}`,
      );
    }
    // Before, a partial answer was summed as if complete: a remote-read endpoint refusing
    // connections left `sum(...) or vector(0)` at 0 and the group scaled in on it.
    const warnings = Array.isArray(body.warnings) ? body.warnings : [];
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
    const dispatcher = await this.#dispatcher?.catch(() => undefined);
    this.#dispatcher = undefined;
    await dispatcher?.close();
  }

  /** #bearer is the Authorization header from `bearerTokenFile` as it is on disk now. */
  async #bearer(): Promise<Record<string, string>> {
    const file = this.#options.bearerTokenFile;
    if (file === undefined) return {};
    const token = await readFile(file, 'utf8').then(
      (text) => text.trim(),
      (err: NodeJS.ErrnoException) => {
        throw new MetricSourceError(
          'SOURCE_FAILED',
          `prometheus at ${this.#target.shown}: cannot read bearer_token_file ${file}: ${err.code ?? err.message}`,
          { cause: err },
        );
      },
    );
    if (token === '' || /[\r\n]/.test(token)) {
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `prometheus at ${this.#target.shown}: bearer_token_file ${file} ${token === '' ? 'is empty' : 'holds more than one line'}`,
      );
    }
    return { authorization: `Bearer ${token}` };
  }

  /** #trusting is the pool that trusts `caFile`, read once; a read that failed is tried again next time. */
  async #trusting(): Promise<Agent | undefined> {
    const file = this.#options.caFile;
    if (file === undefined) return undefined;
    this.#dispatcher ??= readFile(file).then(
      (ca) => new Agent({ connect: { ca } }),
      (err: NodeJS.ErrnoException) => {
        this.#dispatcher = undefined;
        throw new MetricSourceError(
          'SOURCE_FAILED',
          `prometheus at ${this.#target.shown}: cannot read ca_file ${file}: ${err.code ?? err.message}`,
          { cause: err },
        );
      },
    );
    return this.#dispatcher;
  }
}

/** OpenSSL's codes for a certificate chain Node could not check against the CAs it trusts. */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

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
