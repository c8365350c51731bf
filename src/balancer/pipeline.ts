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
 */

/** MAX_WAITING is how many pipelined requests of one connection may wait before it is read no more. */
export const MAX_WAITING = 16;

const kWaiting = Symbol('scaleplane.pipelined');

type PipelinedSocket = Socket & {
  /** Undefined while no request of the connection is in flight; then the ones waiting for it. */
  [kWaiting]?: (() => void)[];
  /** node:http's own pause, for responses piling up unsent: left for it to lift. */
  _paused?: boolean;
};

/** inTurn runs `handle(req, res)` once the requests before it on the same connection were answered. */
export function inTurn(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): void {
  const socket = req.socket as PipelinedSocket;
  const waiting = socket[kWaiting];
  if (waiting === undefined) {
    socket[kWaiting] = [];
    run(socket, req, res, handle);
    return;
  }
  waiting.push(() => run(socket, req, res, handle));
  if (waiting.length >= MAX_WAITING) socket.pause();
}

function run(
  socket: PipelinedSocket,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): void {
  // 'close' comes once the response was written, or the connection went.
  res.once('close', () => next(socket));
  handle(req, res);
}

function next(socket: PipelinedSocket): void {
  const waiting = socket[kWaiting];
  const turn = waiting?.shift();
  // A connection gone takes the requests still waiting on it: nobody is there to answer.
  if (turn === undefined || socket.destroyed) {
    socket[kWaiting] = undefined;
    return;
  }
  if (waiting!.length < MAX_WAITING && socket.isPaused() && socket._paused !== true) socket.resume();
  turn();
}
