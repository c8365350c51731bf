/** SseEvent is one parsed server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
}

/** UnauthorizedError: the API refused the token (the client goes back to the login form). */
export class UnauthorizedError extends Error {
  readonly code = 'UNAUTHORIZED';
}

/**
 * readEvents opens an SSE stream with fetch, so the token travels in the Authorization header
 * (EventSource cannot send headers, and a token in the URL would land in logs and history), and
 * calls onEvent for each event until the stream ends or `signal` aborts.
 */
export async function readEvents(
  url: string,
  token: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    cache: 'no-store',
    signal,
  });
  if (res.status === 401) throw new UnauthorizedError('the API refused the token');
  if (!res.ok || !res.body) {
    // The API's own words (429 too many live streams, 503 shutting down) tell the user what to do.
    const body = (await res.json().catch(() => ({}))) as { error?: unknown };
    const why = typeof body.error === 'string' ? `: ${body.error}` : '';
    throw new Error(`The API answered ${res.status}${why}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent({ event, data: data.join('\n') });
    }
  }
}
