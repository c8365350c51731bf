/**
 * apiErrorText is one line for an error of the Kubernetes client: `403 Forbidden: <the API server's
 * message>` for an `ApiException` whose body is a `Status`, else the error's first line. The
 * client's own message spans lines and carries every response header, which hides the reason in a
 * log line.
 */
export function apiErrorText(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown } | undefined;
  const first = String(e?.message ?? err).split('\n')[0]!;
  if (typeof e?.code !== 'number') return first;
  let body = e.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return `${e.code}: ${text.split('\n')[0]}`;
    }
  }
  const status = body as { reason?: unknown; message?: unknown } | undefined;
  const reason = typeof status?.reason === 'string' ? ` ${status.reason}` : '';
  return typeof status?.message === 'string' ? `${e.code}${reason}: ${status.message}` : first;
}

/** ApiStatus is the part of a `Status` body `apiStatus` reads. */
export interface ApiStatus {
  reason?: string;
  message?: string;
  /** `StatusCause`s: their `type` is `reason` in JSON (e.g. `DisruptionBudget`). */
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** apiStatus is the `Status` body of an `ApiException` (parsed when a string), else undefined. */
export function apiStatus(err: unknown): ApiStatus | undefined {
  let body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return typeof body === 'object' && body !== null ? (body as ApiStatus) : undefined;
}

/**
 * retryAfterMs is how long to wait before sending a request again that the API server refused with
 * 429, or any 5xx, and a `Retry-After` of delta-seconds (API Priority and Fairness, the max-in-flight
 * filter, a server shutting down): it did not carry the request out, and asks for it again then, as
 * client-go's `checkWait` reads it. Undefined for any other error (no header, another status).
 */
export function retryAfterMs(err: unknown): number | undefined {
  const e = err as { code?: unknown; headers?: Record<string, string> } | undefined;
  if (typeof e?.code !== 'number' || (e.code !== 429 && e.code < 500)) return undefined;
  const header = e.headers?.['retry-after'] ?? e.headers?.['Retry-After'];
  if (header === undefined || !/^\s*\d+\s*$/.test(header)) return undefined;
  return Number(header) * 1000;
}
