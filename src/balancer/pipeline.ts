import type http from 'node:http';
import type { Socket } from 'node:net';

/**
 * One HTTP/1.1 connection's pipelined requests are proxied one at a time, as NGINX and Envoy do.
 * node:http parses every request a client pipelines and emits each at once (it pauses reading only
 * when responses pile up unsent), so one connection writing 2000 GETs in one go had 514 requests
 * in flight to the backends together (measured, each held 1 s), each on a backend connection of
 * its own: one client's single connection took the concurrency of hundreds. Responses already go
 * back in order; now each request starts once the one before it was answered, and reading stops
 * while MAX_WAITING are waiting.
 *
 * node:http already keeps that order for the responses: a response gets the connection's socket
 * at once when no earlier one is still being written, else it waits in node:http's queue and is
 * given the socket (its 'socket' event) when the one before it has finished. So a request whose
 * response has its socket is in turn and runs with nothing to track, which is every request of a
 * client that does not pipeline; only a waiting one listens for its turn. (Tracking every request
 * with a 'close' listener, a closure and an array cost the common case about 0.4 µs a request.)
 */

/** MAX_WAITING is how many pipelined requests of one connection may wait before it is read no more. */
export const MAX_WAITING = 16;

const kWaiting = Symbol('scaleplane.pipelined');

type PipelinedSocket = Socket & {
  /** How many of the connection's requests wait for their turn; unset until one had to. */
  [kWaiting]?: number;
  /** node:http's own pause, for responses piling up unsent: left for it to lift. */
  _paused?: boolean;
};

/** inTurn runs `handle(req, res)` once the requests before it on the same connection were answered. */
export function inTurn(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): void {
  if (res.socket !== null) {
    handle(req, res);
    return;
  }
  const socket = req.socket as PipelinedSocket;
  const waiting = (socket[kWaiting] ?? 0) + 1;
  socket[kWaiting] = waiting;
  if (waiting >= MAX_WAITING) socket.pause();
  res.once('socket', () => {
    const left = socket[kWaiting]! - 1;
    socket[kWaiting] = left;
    // A connection gone takes the requests still waiting on it: nobody is there to answer.
    if (socket.destroyed) return;
    if (left < MAX_WAITING && socket.isPaused() && socket._paused !== true) socket.resume();
    handle(req, res);
  });
}
