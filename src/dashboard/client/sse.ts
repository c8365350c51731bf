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
 * STALL_MS is how long the stream may carry nothing before it counts as cut: the API sends a tick
 * every second and a keep-alive every 15 s, so 20 s of silence is a link or an API that stopped
 * answering without closing the connection (a partition, a suspended VM, a stopped process).
 */
export const STALL_MS = 20_000;

/** StalledError: the stream went silent for `STALL_MS` without closing (the client reconnects). */
export class StalledError extends Error {
  readonly code = 'STALLED';
}

/**
 * readEvents opens an SSE stream with fetch, so the token travels in the Authorization header
 * (EventSource cannot send headers, and a token in the URL would land in logs and history), and
 * calls onEvent for each event until the stream ends or `signal` aborts. A stream silent for
 * `stallMs` rejects with StalledError: before, nothing ended it, and the dashboard said `live` over
 * figures that had stopped, for as long as the dead connection lasted (hours, for a partition).
 */
export async function readEvents(
  url: string,
  token: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
  { stallMs = STALL_MS, streamId }: { stallMs?: number; streamId?: string } = {},
): Promise<void> {
  const cut = new AbortController();
  const stop = () => cut.abort();
  signal.addEventListener('abort', stop);
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      cut.abort();
    }, stallMs);
  };
  watch();
  try {
    await read(url, token, onEvent, cut.signal, watch, streamId);
  } catch (err) {
    if (stalled && !signal.aborted)
      throw new StalledError(`No data from the control API for ${stallMs / 1000} s (the connection stalled)`);
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
}

/**
 * newStreamId names this page's live stream for the API (see readEvents). getRandomValues, not
 * randomUUID: a dashboard served over plain http on a LAN address is no secure context.
 */
export function newStreamId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** read is readEvents without the stall watch; `alive` is called whenever bytes arrive. */
async function read(
  url: string,
  token: string,
  onEvent: (event: SseEvent) => void,
  signal: AbortSignal,
  alive: () => void,
  streamId: string | undefined,
): Promise<void> {
  const res = await fetch(url, {
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'text/event-stream',
      // The API ends a stream of this id still open: the one this page found stalled, which would
      // otherwise hold one of the token's stream slots until TCP gives up on it.
      ...(streamId !== undefined && { 'x-scaleplane-stream-id': streamId }),
    },
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
    alive();
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
