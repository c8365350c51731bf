import { splitCredentials } from '../metrics/url-credentials.js';
import { AlertSinkError } from './errors.js';

/** PostOptions tunes postJson's retries. */
export interface PostOptions {
  /** Extra request headers. @defaultValue {} */
  headers?: Record<string, string>;
  /** Attempts after the first. @defaultValue 3 */
  retries?: number;
  /** First retry delay; doubled each time, with ±20 % jitter. @defaultValue 500 (ms) */
  backoffMs?: number;
  /** Longest retry delay, a receiver's `Retry-After` included. @defaultValue 10000 (ms) */
  maxBackoffMs?: number;
  /** Per-attempt timeout. @defaultValue 5000 (ms) */
  timeoutMs?: number;
  /** Injectable for tests. @defaultValue setTimeout-based sleep */
  sleep?: (ms: number) => Promise<void>;
  /** Injectable jitter source in [0, 1). @defaultValue Math.random */
  random?: () => number;
}

/** retryDelay is the wait before retry `attempt` (1-based): exponential with ±20 % jitter, capped. */
export function retryDelay(attempt: number, base: number, max: number, random: () => number): number {
  const raw = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

/** isRetryable says whether an HTTP status is worth another attempt (429 and 5xx). */
export function isRetryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * retryAfterMs reads a `Retry-After` header (delta-seconds or an HTTP date) as ms from `now`;
 * undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * redirectOrigin names a redirect's `Location` by its origin only (`https://host/…`): a webhook's
 * path or query can be its token (Slack's is), and the error is logged.
 */
function redirectOrigin(location: string | null, from: string): string {
  if (location === null) return '(no Location)';
  try {
    const to = new URL(location, from);
    return `${to.origin}${to.pathname === '/' && to.search === '' ? '' : '/…'}`;
  } catch {
    return '(a Location that is not a URL)';
  }
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * postJson POSTs a JSON body, retrying network failures, 429 and 5xx with exponential backoff.
 * Other 4xx are not retried: the receiver said the request itself is wrong. Rejects with
 * AlertSinkError once it gives up.
 */
export async function postJson(
  sink: string,
  url: string,
  body: unknown,
  options: PostOptions = {},
): Promise<void> {
  const retries = options.retries ?? 3;
  const sleep = options.sleep ?? sleepMs;
  const random = options.random ?? Math.random;
  const payload = JSON.stringify(body);
  // A receiver behind Basic auth is configured as https://user:password@host/… (Alertmanager's
  // basic_auth, curl); fetch refuses a URL that carries credentials, with a TypeError whose message
  // is the whole URL. So every alert to such a sink failed (after the retries), and each failure
  // logged the password. The credentials go in an authorization header instead (a configured
  // `authorization` header wins).
  const target = splitCredentials(url);
  const own = Object.keys(options.headers ?? {}).some((h) => h.toLowerCase() === 'authorization');
  const headers = { 'content-type': 'application/json', ...(!own && target.headers), ...options.headers };
  const maxBackoff = options.maxBackoffMs ?? 10_000;
  let lastError = '';
  // A receiver's Retry-After (Slack's rate limit, a 503 in maintenance), when longer than the backoff:
  // before, it was ignored, and a Slack that said `Retry-After: 8` was retried at 0.5, 1.5 and 3.5 s,
  // each refused, and the alert was given up on. Capped at maxBackoff, so a delivery stays bounded.
  let askedWait = 0;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) {
      const backoff = retryDelay(attempt, options.backoffMs ?? 500, maxBackoff, random);
      await sleep(Math.max(backoff, Math.min(askedWait, maxBackoff)));
    }
    askedWait = 0;
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers,
        body: payload,
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        // Not followed: fetch drops Authorization on a redirect to another origin, but not the
        // sink's own `headers` (an x-api-key, a token), which went wherever the answer pointed.
        // A webhook receiver does not redirect a POST; the URL to configure is the one it names.
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      if (res.status >= 300 && res.status < 400) {
        lastError = `HTTP ${res.status} redirect to ${redirectOrigin(res.headers.get('location'), target.url)}, which is not followed: configure the URL it points to`;
        break;
      }
      lastError = `HTTP ${res.status}`;
      if (!isRetryable(res.status)) break;
      askedWait = retryAfterMs(res.headers.get('retry-after'), Date.now()) ?? 0;
    } catch (err) {
      lastError = (err as Error).cause ? String((err as Error).cause) : String(err);
    }
  }
  // The URL is a secret (a Slack webhook's path is its token): an error that quotes it (fetch
  // names the URL it refuses) is logged and emitted, so it must not carry it.
  lastError = lastError.split(url).join('<url>').split(target.url).join('<url>');
  throw new AlertSinkError(sink, `giving up after ${lastError}`);
}
