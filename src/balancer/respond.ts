import http from 'node:http';
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * sendJson answers with a balancer-made JSON body (an error or a notice), never cacheable by
 * anything downstream. `close` asks the client to drop the connection, as while shutting down.
 */
export function sendJson(res: http.ServerResponse, status: number, body: Buffer, close: boolean): void {
  const headers = [
    'Content-Type',
    'application/json',
    'Cache-Control',
    'no-store',
    'Content-Length',
    `${body.length}`,
  ];
  if (close) headers.push('Connection', 'close');
  // A writeHead that threw on a backend's status line (a reason phrase with a control byte, which
  // the client parser took and node:http will not send) has already stored that reason on the
  // response, and this writeHead, without one of its own, would reuse it and throw again: out of
  // the error path, so one such backend response took the whole balancer process down. HTTP/2
  // responses have no reason phrase (and warn when given one).
  if (res instanceof http.ServerResponse) res.statusMessage = http.STATUS_CODES[status] ?? '';
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * breakResponse cuts a response already under way so that the client cannot take it for a whole
 * one. Over HTTP/1 (cleartext) the client's connection is reset, not closed: a body sent without a
 * length — to an HTTP/1.0 client, whatever the backend sent — ends where the connection closes, so
 * a FIN after half of it read as the complete response. Over TLS, a close without close_notify
 * already says so (and Node cannot reset a TLS socket); over HTTP/2 only the stream is reset.
 */
export function breakResponse(req: http.IncomingMessage, res: http.ServerResponse): void {
  const socket = res.socket;
  if (
    req.httpVersionMajor === 1 &&
    socket instanceof Socket &&
    !(socket instanceof TLSSocket) &&
    !socket.destroyed
  )
    socket.resetAndDestroy();
  res.destroy();
}
