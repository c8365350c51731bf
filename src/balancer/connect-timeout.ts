import type http from 'node:http';
import type { Socket } from 'node:net';
import { buildConnector } from 'undici';
import { MAX_RETRIES } from './retry.js';

/** DEFAULT_CONNECT_TIMEOUT is how long a backend connection may take to open at most by default, ms (undici's own default). */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

/**
 * defaultConnectTimeout is the connect timeout when none is set: DEFAULT_CONNECT_TIMEOUT, or the
 * request timeout's share of each attempt (one try and MAX_RETRIES retries) when that is shorter.
 * The request timer runs from the first connect, so a connect timeout at or above it never fires:
 * with only a short `request_timeout` (5 s), a blackholed instance took the whole 5 s and the
 * client got a 504, where a connect failure is retried on another instance for any method. A
 * share leaves every retry its own connect within the request's time, as Envoy's defaults do (a
 * 5 s connect_timeout in a 15 s route timeout); a dead instance now costs a third of it.
 */
export function defaultConnectTimeout(requestTimeout: number): number {
  return Math.min(DEFAULT_CONNECT_TIMEOUT, Math.max(1, Math.floor(requestTimeout / (MAX_RETRIES + 1))));
}

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
 *
 * The verdict waits one turn of the loop after the timer, as undici's own connect timeout does:
 * Node runs due timers before it polls the sockets, so after the loop was busy past `ms` (a GC
 * pause, a burst of requests) a connection the kernel had long opened still read as connecting,
 * and a loaded balancer failed healthy instances' connects, retried them elsewhere and counted
 * them for outlier ejection. The poll between the timer and the immediate reports it open.
 */
export function guardConnect(request: http.ClientRequest, ms: number): void {
  request.once('socket', (socket: Socket) => {
    if (!socket.connecting) return;
    let verdict: NodeJS.Immediate | undefined;
    const timer = setTimeout(() => {
      verdict = setImmediate(() => {
        if (socket.connecting) request.destroy(connectTimeoutError(ms));
      });
    }, ms);
    const clear = () => {
      clearTimeout(timer);
      clearImmediate(verdict);
    };
    socket.once('connect', clear);
    socket.once('close', clear);
  });
}

/**
 * guardedConnector is the undici connector of the bodiless GET/HEAD pools: undici's own, with the
 * connect timeout of guardConnect (`connectTimeoutError` after `ms`, its verdict one turn of the
 * loop later) in place of undici's. undici times connects with its coarse timers, which tick every
 * ~500 ms: a 300 ms connect_timeout fired after 0.9–1.2 s, so with a request_timeout below that, a
 * GET to a blackholed instance ran into request_timeout (504) instead of being retried on another.
 */
export function guardedConnector(ms: number): buildConnector.connector {
  // timeout 0: undici's own connect timer is off.
  const connect = buildConnector({ timeout: 0 });
  return (options, callback) => {
    let timer: NodeJS.Timeout | undefined;
    let verdict: NodeJS.Immediate | undefined;
    // undici's connector returns the socket it opens (lib/core/connect.js); its types say void.
    const socket = connect(options, (...args) => {
      clearTimeout(timer);
      clearImmediate(verdict);
      callback(...args);
    }) as unknown as Socket;
    timer = setTimeout(() => {
      verdict = setImmediate(() => {
        if (socket.connecting) socket.destroy(connectTimeoutError(ms));
      });
    }, ms);
  };
}
