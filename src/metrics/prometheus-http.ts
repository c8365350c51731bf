/**
 * How a Prometheus is reached: its base URL (a path prefix kept, `user:password@` sent as HTTP
 * Basic auth), a bearer token file, a private CA, more headers. Shared by the metric source
 * (instant queries) and `simulate --prometheus` (range queries), so both read the same servers the
 * same way. It imports no metric source's client: the simulator stays free of their side effects.
 */
import { readFile } from 'node:fs/promises';
import type { Agent, Response } from 'undici';

/**
 * undici, loaded at the first request: `scaleplane simulate` imports this module, and every CLI
 * process (`--version`, `status`, a usage error) read its 112 files at start for no request at all.
 */
const loadUndici = () => import('undici');

import { deadline } from '../deadline.js';
import { type CredentialedUrl, splitCredentials } from './url-credentials.js';

/** PrometheusAccess says where a Prometheus is and how to authenticate to it. */
export interface PrometheusAccess {
  /** Base URL; `http://user:password@host:9090` is sent as HTTP Basic auth. */
  url: string;
  /**
   * A file holding a bearer token, sent as `Authorization: Bearer …` (a Thanos querier or Mimir
   * behind an auth proxy, a Kubernetes service account token). Read on every request, as
   * Prometheus reads its own `credentials_file`: a projected token is rotated on disk.
   */
  bearerTokenFile?: string;
  /** PEM file of the CA(s) that signed an https Prometheus's certificate (a private or cluster CA). */
  caFile?: string;
  /** More request headers, e.g. `X-Scope-OrgID` for a multi-tenant Mimir, Cortex or Loki. */
  headers?: Record<string, string>;
}

/** PrometheusHttpError is a request that got no answer; its message says why, without the URL. */
export class PrometheusHttpError extends Error {
  override readonly name = 'PrometheusHttpError';
}

/** How the caller names the settings in its messages (config keys or CLI flags). */
export interface AccessNames {
  bearerTokenFile: string;
  caFile: string;
  /** Where a user and password go, e.g. `url` or `the URL`. */
  url: string;
}

/** OpenSSL's codes for a certificate chain Node could not check against the CAs it trusts. */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/** PrometheusHttp sends GETs to one Prometheus as `access` says. */
export class PrometheusHttp {
  readonly #access: PrometheusAccess;
  readonly #names: AccessNames;
  readonly #target: CredentialedUrl;
  /** The connection pool trusting `caFile`, made at the first request (undefined: the system's CAs). */
  #dispatcher: Promise<Agent> | undefined;

  /** Throws an Error for a URL that does not parse or has badly encoded credentials. */
  constructor(access: PrometheusAccess, names: AccessNames) {
    this.#access = access;
    this.#names = names;
    this.#target = splitCredentials(access.url);
  }

  /** shown is the URL for messages: the password replaced by `***`. */
  get shown(): string {
    return this.#target.shown;
  }

  /**
   * endpoint is `path` under the base URL: relative to its path, so a Prometheus behind a proxy
   * path or run with --web.route-prefix (`http://h/prom`) is asked at /prom/api/v1/query.
   */
  endpoint(path: string): URL {
    const bare = this.#target.url;
    return new URL(path, bare.endsWith('/') ? bare : `${bare}/`);
  }

  /**
   * get sends a GET with the access's headers and reads the answer's body, both within
   * `timeoutMs`. Rejects with a PrometheusHttpError when no whole answer came: a token or CA file
   * that cannot be read, a refused connection, a certificate that is not trusted (with a hint to
   * give the CA), no answer (or no end to its body) within `timeoutMs`, a redirect.
   */
  async get(url: URL, timeoutMs: number): Promise<{ response: Response; body: string }> {
    const headers = { ...this.#access.headers, ...this.#target.headers, ...(await this.#bearer()) };
    const dispatcher = await this.#trusting();
    const { fetch } = await loadUndici();
    // A deadline, not AbortSignal.timeout, which Node 20 may garbage-collect before it fires
    // (src/deadline.ts): a server that accepted and never answered would hold the read for good.
    // It bounds the body too, so the body is read here, before it is cleared.
    const limit = deadline(timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, {
        headers,
        signal: limit.signal,
        ...(dispatcher && { dispatcher }),
        // Not followed: fetch drops Authorization on a redirect to another origin, but not
        // `headers` (a tenant, an X-Api-Key), which went wherever the answer pointed (an SSO page
        // in front of the server, say). The Prometheus HTTP API does not redirect its queries.
        redirect: 'manual',
      });
      if (res.status >= 300 && res.status < 400) await res.body?.cancel();
      else return { response: res, body: await res.text() };
    } catch (err) {
      if (limit.timedOut)
        throw new PrometheusHttpError(`no answer within ${timeoutMs / 1000} s`, { cause: err });
      const cause = (err as Error).cause as (Error & { code?: string }) | undefined;
      const why = cause?.message ?? (err as Error).message;
      // Node names a certificate it cannot check by its OpenSSL code, not by what to do about it.
      const hint =
        cause?.code !== undefined && TLS_TRUST_CODES.has(cause.code) && this.#access.caFile === undefined
          ? ` (a private CA signed its certificate: give its PEM as ${this.#names.caFile})`
          : '';
      throw new PrometheusHttpError(`${why}${hint}`, { cause: err });
    } finally {
      limit.clear();
    }
    throw new PrometheusHttpError(
      `HTTP ${res.status} redirect to ${redirectTarget(res.headers.get('location'), url)}, which is not followed: use the URL it points to instead`,
    );
  }

  /** refusedHint is what to check after a 401 or 403, by how the request authenticated. */
  refusedHint(): string {
    if (this.#access.bearerTokenFile !== undefined)
      return `check the token in ${this.#names.bearerTokenFile} ${this.#access.bearerTokenFile}`;
    if (this.#target.headers.authorization !== undefined)
      return `check the user and password in ${this.#names.url}`;
    return `it wants credentials: user:password in ${this.#names.url}, or ${this.#names.bearerTokenFile}`;
  }

  /** close releases the CA's connection pool, if one was made. Safe to call twice. */
  async close(): Promise<void> {
    const dispatcher = await this.#dispatcher?.catch(() => undefined);
    this.#dispatcher = undefined;
    await dispatcher?.close();
  }

  /** #bearer is the Authorization header from the token file as it is on disk now. */
  async #bearer(): Promise<Record<string, string>> {
    const file = this.#access.bearerTokenFile;
    if (file === undefined) return {};
    const name = `${this.#names.bearerTokenFile} ${file}`;
    const token = await readFile(file, 'utf8').then(
      (text) => text.trim(),
      (err: NodeJS.ErrnoException) => {
        throw new PrometheusHttpError(`cannot read ${name}: ${err.code ?? err.message}`, { cause: err });
      },
    );
    if (token === '') throw new PrometheusHttpError(`${name} is empty`);
    if (/[\r\n]/.test(token)) throw new PrometheusHttpError(`${name} holds more than one line`);
    return { authorization: `Bearer ${token}` };
  }

  /** #trusting is the pool that trusts the CA file, read once; a read that failed is tried again next time. */
  async #trusting(): Promise<Agent | undefined> {
    const file = this.#access.caFile;
    if (file === undefined) return undefined;
    this.#dispatcher ??= readFile(file).then(
      async (ca) => new (await loadUndici()).Agent({ connect: { ca } }),
      (err: NodeJS.ErrnoException) => {
        this.#dispatcher = undefined;
        throw new PrometheusHttpError(
          `cannot read ${this.#names.caFile} ${file}: ${err.code ?? err.message}`,
          {
            cause: err,
          },
        );
      },
    );
    return this.#dispatcher;
  }
}

/**
 * redirectTarget names a redirect's `Location` for a message: its origin and path, without the
 * query (our own PromQL, echoed back) or any credentials.
 */
function redirectTarget(location: string | null, from: URL): string {
  if (location === null) return '(no Location)';
  try {
    const to = new URL(location, from);
    return `${to.origin}${to.pathname}`;
  } catch {
    return '(a Location that is not a URL)';
  }
}
