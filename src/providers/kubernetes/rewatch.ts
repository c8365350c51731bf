/**
 * rewatchBackoff is the pause before a watch is opened again after `failures` failed attempts in a
 * row (0: the watch ended cleanly, as the API server ends every watch after a few minutes): `base`
 * for 0 or 1, then doubled per failure, at most `max`. An API server that is down, or an RBAC role
 * without `list`/`watch`, is then asked once per `max` instead of once per `base` for as long as it
 * lasts.
 */
export function rewatchBackoff(base: number, failures: number, max = 30_000): number {
  return Math.min(max, base * 2 ** Math.max(0, failures - 1));
}

/** WatchStatus is the `Status` object of a watch's `ERROR` event (410 Gone: its resourceVersion is too old). */
export interface WatchStatus {
  code?: number;
  reason?: string;
  message?: string;
}

/**
 * watchFailure says why a watch that ended failed, or undefined when it did not: it ended cleanly,
 * or with 410 Gone (expired), which a fresh list answers and which is no failure. `err` is what the
 * client's `done` callback got, `status` the watch's `ERROR` event, if any.
 */
export function watchFailure(err: unknown, status: WatchStatus | undefined): string | undefined {
  if (err) {
    const code = (err as { statusCode?: number }).statusCode;
    const message = (err as Error).message ?? String(err);
    return code ? `${code} ${message}` : message;
  }
  if (status && status.code !== 410)
    return `${status.code ?? ''} ${status.reason ?? ''}: ${status.message ?? ''}`.trim();
  return undefined;
}
