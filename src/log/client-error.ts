import type { Duplex } from 'node:stream';
import { LogThrottle } from './log-throttle.js';

/** ClientErrorLogger is the slice of pino a rejected connection is reported to. */
export interface ClientErrorLogger {
  warn(obj: object, msg?: string): void;
}

/**
 * clientErrorStatus maps a node:http parser or timeout error to the status a client gets: 431 for a
 * header block over the limit, 408 for a request too slow to arrive (slowloris), 400 otherwise
 * (smuggling shapes such as Content-Length with Transfer-Encoding, bad chunk sizes, bad bytes).
 */
export function clientErrorStatus(code: string | undefined): 400 | 408 | 431 {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_TIMEOUT') return 408;
  return 400;
}

const REASONS = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** ClientErrorOptions configures the log throttle of an onClientError listener. */
export interface ClientErrorOptions {
  /** Monotonic clock in ms of the log throttle. @defaultValue performance.now */
  now?: () => number;
  /**
   * At most one line per kind (TLS failure, refused request) and cause (error code) per this many
   * ms. @defaultValue 10000
   */
  intervalMs?: number;
}

/** ClientErrorListener is a `clientError` listener that can write the counts its throttle left out. */
export interface ClientErrorListener {
  (err: Error & { code?: string }, socket: Duplex): void;
  /**
   * flush writes, for each cause whose interval has ended by `now`, how many TLS failures or refused
   * requests were left out of the log; `flush(Infinity)` writes them all (at shutdown).
   */
  flush(now?: number): void;
}

/**
 * onClientError returns a `clientError` listener for a node:http(s) server: it logs one line per
 * rejected connection and answers 4xx with `Connection: close` (Node's own listener answers without
 * a log line). A socket already torn down (reset by the client, or no longer writable) is closed
 * without a line. TLS handshake failures and refused requests are throttled per cause: the first
 * at once, the rest of the interval counted and written in one line after it.
 */
export function onClientError(
  logger: ClientErrorLogger,
  listener: string,
  options: ClientErrorOptions = {},
): ClientErrorListener {
  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 10_000;
  // A failed handshake is a line per connection: a scanner that connects and says nothing (each
  // closed at the handshake timeout) wrote thousands a second. As the API's refusals are
  // (LogThrottle), the lines are keyed by cause alone, not by address, so a spray of addresses
  // does not get past it either.
  const tlsLog = new LogThrottle({ intervalMs });
  // A refused request was a line per connection too, unthrottled: a client sending garbage in a
  // loop wrote a line per request. Keyed by parser error code the same way.
  const refusedLog = new LogThrottle({ intervalMs });
  let sweep: NodeJS.Timeout | undefined;
  const arm = (): void => {
    sweep ??= setTimeout(() => {
      sweep = undefined;
      flush();
    }, intervalMs);
    sweep.unref();
  };
  const flush = (at: number = now()): void => {
    for (const { key, suppressed } of tlsLog.expired(at))
      logger.warn(
        { code: key, suppressed, listener },
        `${listener}: TLS handshake failed or timed out: ${suppressed} more connections closed the same way, not logged`,
      );
    for (const { key, suppressed } of refusedLog.expired(at))
      logger.warn(
        { code: key, status: clientErrorStatus(key), suppressed, listener },
        `${listener}: malformed or slow request refused: ${suppressed} more requests refused the same way, not logged`,
      );
    // Causes still inside their interval may yet count some: look again when it is over.
    if (tlsLog.size + refusedLog.size > 0 && at !== Number.POSITIVE_INFINITY) arm();
    else if (sweep !== undefined) {
      clearTimeout(sweep);
      sweep = undefined;
    }
  };
  const handle = (err: Error & { code?: string }, socket: Duplex): void => {
    const status = clientErrorStatus(err.code);
    const remote = (socket as { remoteAddress?: string }).remoteAddress;
    // ECONNRESET: the client went away; nothing to answer, nothing malicious to report.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // A failed or timed-out TLS handshake (node:https and node:http2 pass `tlsClientError` on as
    // `clientError`): there is no session to answer in. The HTTP answer below was queued behind a
    // handshake that never completes and the socket was never closed, so a client that connected
    // and sent nothing (or plain HTTP to the HTTPS port) held its socket for good.
    if (isTlsLayerError(err)) {
      socket.destroy();
      const verdict = tlsLog.admit(err.code ?? 'unknown', now());
      if (!verdict.log) {
        // The count of a cause that then goes quiet is written once its interval is over.
        arm();
        return;
      }
      logger.warn(
        verdict.suppressed === 0
          ? { remote, code: err.code, listener }
          : { remote, code: err.code, listener, suppressed: verdict.suppressed },
        verdict.suppressed === 0
          ? `${listener}: TLS handshake failed or timed out, connection closed`
          : `${listener}: TLS handshake failed or timed out, connection closed (and ${verdict.suppressed} more like it not logged)`,
      );
      return;
    }
    const verdict = refusedLog.admit(err.code ?? 'unknown', now());
    if (verdict.log)
      logger.warn(
        verdict.suppressed === 0
          ? { remote, code: err.code, status, listener }
          : { remote, code: err.code, status, listener, suppressed: verdict.suppressed },
        verdict.suppressed === 0
          ? `${listener}: malformed or slow request refused`
          : `${listener}: malformed or slow request refused (and ${verdict.suppressed} more like it not logged)`,
      );
    // As above, the count of a cause that then goes quiet is written once its interval is over.
    else arm();
    // The parser can fail after a request was handed out and answered (llhttp checks a request's
    // Transfer-Encoding only after its headers were delivered): a second status line would be read
    // by the client as the answer to a request it never sent. As Node's own listener does, a
    // connection whose response has begun gets no answer of ours: a finished one is flushed and
    // closed, one still streaming is cut.
    const answering = (socket as { _httpMessage?: { headersSent: boolean; writableEnded: boolean } | null })
      ._httpMessage;
    if (answering?.headersSent) {
      if (answering.writableEnded) socket.end();
      else socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: REASONS[status] });
    socket.end(
      `HTTP/1.1 ${status} ${REASONS[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };
  return Object.assign(handle, { flush });
}

/**
 * isTlsLayerError says whether a `clientError` comes from the TLS layer (node:tls's own ERR_TLS_*
 * codes, OpenSSL's ERR_SSL_* ones, which also carry its `library`) rather than from HTTP parsing.
 */
export function isTlsLayerError(err: Error & { code?: string; library?: string }): boolean {
  const code = err.code ?? '';
  return code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || err.library !== undefined;
}
