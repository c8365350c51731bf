import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** REQUEST_ID_HEADER is the header that carries a request's id to backends and back to the client. */
export const REQUEST_ID_HEADER = 'x-request-id';

// A client's id is kept only when it is short and plain, so it cannot forge log lines or headers.
const ACCEPTABLE = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** newRequestId makes a fresh request id (a random UUID). */
export function newRequestId(): string {
  return randomUUID();
}

/** acceptableRequestId returns a client-sent id when it is plain enough to pass on, else undefined. */
export function acceptableRequestId(value: string | undefined): string | undefined {
  return value !== undefined && ACCEPTABLE.test(value) ? value : undefined;
}

/**
 * requestIdOf returns the request's id: the client's `X-Request-Id` when it is acceptable (1–128
 * characters of `[A-Za-z0-9._:@/+=-]`, first value if repeated), otherwise a new one.
 */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const raw = headers[REQUEST_ID_HEADER];
  const given = Array.isArray(raw) ? raw[0] : raw;
  return acceptableRequestId(given) ?? newRequestId();
}

/**
 * ensureRequestId gives a request its id and writes it back into `headers` (so a proxy that copies
 * the headers forwards it to the backend), returning it. Call it once per incoming request, then
 * set the same id on the response and in the request's log lines.
 */
export function ensureRequestId(headers: IncomingHttpHeaders): string {
  const id = requestIdOf(headers);
  headers[REQUEST_ID_HEADER] = id;
  return id;
}
