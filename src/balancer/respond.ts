import type http from 'node:http';

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
  res.writeHead(status, headers);
  res.end(body);
}
