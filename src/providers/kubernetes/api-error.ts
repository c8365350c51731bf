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
