import type http from 'node:http';
import type { Socket } from 'node:net';

/** DEFAULT_CONNECT_TIMEOUT is how long a backend connection may take to open, ms (undici's own default). */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

/**
 * connectTimeoutError is the error a connect that ran out of time fails with: `ETIMEDOUT` from the
 * `connect` syscall, as the kernel's own connect timeout reads in Node, so `classifyUpstreamError`
 * takes it for a connect failure (nothing was sent) and not a timeout of a request in flight.
 */
export function connectTimeoutError(ms: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect timed out after ${ms} ms`), {
    code: 'ETIMEDOUT',
    syscall: 'connect',
  });
}

/**
 * guardConnect fails `request` with `connectTimeoutError` when its connection is not open within
 * `ms`: as NGINX's proxy_connect_timeout and Envoy's connect_timeout, a backend that never answers
 * the SYN (blackholed, its accept queue full) is given up on early and the request, which it never
 * saw, tried on another. node:http's client has no connect timeout of its own; the kernel's ends
 * after ~2 minutes, past any request timeout. A keep-alive socket handed over already open costs
 * nothing here.
 */
export function guardConnect(request: http.ClientRequest, ms: number): void {
  request.once('socket', (socket: Socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => request.destroy(connectTimeoutError(ms)), ms);
    const clear = () => clearTimeout(timer);
    socket.once('connect', clear);
    socket.once('close', clear);
  });
}
