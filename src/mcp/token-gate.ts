import { createHash } from 'node:crypto';
import { type ControlApi, createControlApi } from './api.js';
import { McpError } from './errors.js';

/**
 * TOKEN_CHECK_PATH is what the gate asks the control API: its cheapest authenticated read (the
 * API checks the token first, then answers `{"events":[]}` without copying any entry).
 */
export const TOKEN_CHECK_PATH = '/api/scalability/events?limit=0';

/**
 * TOKEN_ACCEPTED_TTL_MS is how long an accepted token is let in without asking again. A busy MCP
 * client sends a request per tool call (and an initialize before them): a few seconds saves the
 * second API call for nearly all of them. It grants nothing: every tool call still presents the token
 * to the API, which refuses it once revoked, so a longer gate opening only lets a body be read.
 */
export const TOKEN_ACCEPTED_TTL_MS = 5_000;

/** MAX_REMEMBERED_TOKENS bounds the cache of accepted tokens (digests only; far more than a team's agents). */
export const MAX_REMEMBERED_TOKENS = 1_024;

/** TokenVerdict is the gate's answer: let in, or the HTTP status and reason to refuse with. */
export type TokenVerdict =
  | { ok: true }
  | {
      ok: false;
      status: 401 | 429 | 502;
      reason: 'Rejected' | 'RateLimited' | 'ApiUnreachable' | 'ApiError';
      message: string;
    };

/** TokenGateOptions configures a TokenGate. */
export interface TokenGateOptions {
  /** Control API base URL. */
  apiUrl: string;
  /** How long an accepted token is remembered. @defaultValue TOKEN_ACCEPTED_TTL_MS */
  acceptedTtlMs?: number;
  /** Time allowed for the API's answer. @defaultValue 5000 (ms; it answers a local read in milliseconds) */
  timeoutMs?: number;
  /**
   * Clock of the TTL, ms. @defaultValue performance.now: with Date.now, a step back of the system
   * clock let a token accepted before it in without asking for as long as the step, revoked or not
   */
  now?: () => number;
  /** The API client per token and proxy headers (tests count calls). @defaultValue createControlApi */
  api?: (token: string, headers: Record<string, string>) => ControlApi;
}

/**
 * TokenGate checks a bearer token with the control API before a request's body is read, as NGINX's
 * auth_request does in front of an API: an unauthenticated client costs one small API call, never the
 * read and parse of up to 8 MiB. Accepted tokens are remembered briefly by their SHA-256 digest (the
 * token itself is never kept); concurrent checks of one token share one API call. Refusals are not
 * remembered: the API's own failed-authentication limit counts each.
 */
export class TokenGate {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #api: (token: string, headers: Record<string, string>) => ControlApi;
  /** Digest → time the acceptance expires, oldest first (Map keeps insertion order). */
  readonly #accepted = new Map<string, number>();
  readonly #pending = new Map<string, Promise<TokenVerdict>>();

  constructor(options: TokenGateOptions) {
    this.#ttlMs = options.acceptedTtlMs ?? TOKEN_ACCEPTED_TTL_MS;
    this.#now = options.now ?? (() => performance.now());
    const timeoutMs = options.timeoutMs ?? 5_000;
    this.#api =
      options.api ?? ((token, headers) => createControlApi(options.apiUrl, token, timeoutMs, headers));
  }

  /**
   * check asks the API about `token`, unless it accepted it within the last TTL; `headers` go with
   * the question (proxyHeaders: whose failed check it is).
   */
  check(token: string, headers: Record<string, string> = {}): Promise<TokenVerdict> {
    const digest = createHash('sha256').update(token).digest('hex');
    const until = this.#accepted.get(digest);
    if (until !== undefined && until > this.#now()) return Promise.resolve({ ok: true });
    let pending = this.#pending.get(digest);
    if (pending === undefined) {
      pending = this.#ask(token, headers).then((verdict) => {
        this.#pending.delete(digest);
        if (verdict.ok) this.#remember(digest);
        return verdict;
      });
      this.#pending.set(digest, pending);
    }
    return pending;
  }

  async #ask(token: string, headers: Record<string, string>): Promise<TokenVerdict> {
    try {
      await this.#api(token, headers).request('GET', TOKEN_CHECK_PATH);
      return { ok: true };
    } catch (err) {
      return verdictOf(err);
    }
  }

  #remember(digest: string): void {
    const now = this.#now();
    this.#accepted.delete(digest);
    for (const [key, until] of this.#accepted) {
      if (until > now && this.#accepted.size < MAX_REMEMBERED_TOKENS) break;
      this.#accepted.delete(key);
    }
    this.#accepted.set(digest, now + this.#ttlMs);
  }
}

/** verdictOf maps a failed check to the answer the MCP client gets. */
export function verdictOf(err: unknown): TokenVerdict {
  if (!(err instanceof McpError) || err.code === 'MCP_API_UNREACHABLE')
    return {
      ok: false,
      status: 502,
      reason: 'ApiUnreachable',
      message: `cannot check the token: the control API is unreachable (${err instanceof Error ? err.message : String(err)})`,
    };
  if (err.status === 401 || err.status === 403)
    return {
      ok: false,
      status: 401,
      reason: 'Rejected',
      message: `control API refused the token: ${err.message}`,
    };
  if (err.status === 429)
    return { ok: false, status: 429, reason: 'RateLimited', message: `control API: ${err.message}` };
  return {
    ok: false,
    status: 502,
    reason: 'ApiError',
    message: `cannot check the token: the control API answered ${err.message}`,
  };
}
