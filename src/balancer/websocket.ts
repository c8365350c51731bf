import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Picker } from './algorithms/index.js';
import { forwardRequestHeaders, forwardResponseHeaders, schemeOf } from './headers.js';
import { type GroupRoute, hashKeyOf, type ProxyPath } from './proxy.js';

/**
 * proxyUpgrade passes an `Upgrade` request (WebSocket and the like) through to a backend of `route`
 * on a connection of its own, then splices the two sockets together. The backend counts the
 * connection as in flight until either side closes, so draining waits for open WebSockets (up to
 * its deadline). Upgrades are never retried: the handshake may have reached the backend.
 */
export function proxyUpgrade(
  proxy: ProxyPath,
  route: GroupRoute,
  picker: Picker,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  socket.on('error', ignore);
  const forwarded = forwardRequestHeaders(req.rawHeaders, req.socket.remoteAddress, schemeOf(req.socket));
  // Only WebSocket is tunnelled. Any other protocol (`h2c` above all) would give the client a raw
  // connection to one backend on which it can send any request, past the balancer's routes and
  // limits ("h2c smuggling"); such a request goes as a plain one and its answer closes the
  // connection, the way a server that ignores the Upgrade header answers.
  const tunnel = isWebSocket(req.headers.upgrade);
  if (tunnel) forwarded.headers.push('Connection', 'Upgrade', 'Upgrade', String(req.headers.upgrade));
  else if (forwarded.hasBody) {
    // Its body is in the raw socket's bytes, unframed by any parser here: refuse rather than guess.
    rawReply(socket, 400, UPGRADE_WITH_BODY);
    return;
  }
  const key = picker.hashKey === undefined ? undefined : hashKeyOf(req, picker.hashKey);
  const backend = picker.pick(route.pool.eligible(), key === undefined ? undefined : { key });
  if (backend === undefined) {
    route.telemetry.errors.no_backend.inc();
    rawReply(socket, 503, route.replies.noBackend);
    return;
  }
  route.pool.acquire(backend);
  route.inFlight++;
  route.requests++;
  route.telemetry.inFlight.inc();
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    route.pool.release(backend);
    route.inFlight--;
    route.telemetry.inFlight.dec();
    if (backend.removed) proxy.retire(backend);
    proxy.exchangeEnded();
  };
  const upstream = http.request({
    agent: false,
    host: backend.host,
    port: backend.port,
    method: req.method,
    path: req.url,
    headers: forwarded.headers,
  });
  const abandon = (): void => {
    upstream.destroy();
    release();
  };
  socket.once('close', abandon);
  // A 101 to a request that was not offered an upgrade, or one without the headers that make it
  // an upgrade: nothing here could relay what follows it.
  const refuse101 = (): void => {
    route.telemetry.errors.other.inc();
    rawReply(socket, 502, route.replies.badGateway.other);
    abandon();
  };
  upstream.on('upgrade', (response, upSocket, upHead) => {
    if (!tunnel) {
      upSocket.destroy();
      refuse101();
      return;
    }
    socket.off('close', abandon);
    upSocket.on('error', ignore);
    socket.write(rawHead(101, response.statusMessage ?? 'Switching Protocols', response.rawHeaders));
    if (upHead.length > 0) socket.write(upHead);
    if (head.length > 0) upSocket.write(head);
    const close = (): void => {
      proxy.tunnels.delete(socket);
      socket.destroy();
      upSocket.destroy();
      release();
    };
    proxy.tunnels.add(socket);
    // Either side's FIN ends the tunnel: sockets from an http server allow half-open, and a
    // half-closed tunnel would otherwise hold its in-flight count forever.
    socket.once('end', close);
    upSocket.once('end', close);
    socket.once('close', close);
    upSocket.once('close', close);
    socket.pipe(upSocket);
    upSocket.pipe(socket);
    route.outcome(backend, 'success');
  });
  upstream.on('response', (response) => {
    // The backend declined the upgrade (or was not offered one): relay its answer and close. The
    // body is relayed decoded, so Transfer-Encoding goes with the other hop-by-hop headers; without
    // a Content-Length the close ends the body.
    if (response.statusCode === 101) {
      response.destroy();
      refuse101();
      return;
    }
    const headers = forwardResponseHeaders(response.rawHeaders);
    headers.push('Connection', 'close');
    socket.write(rawHead(response.statusCode ?? 502, response.statusMessage ?? '', headers));
    response.pipe(socket);
    response.on('error', () => socket.destroy());
  });
  upstream.on('error', () => {
    socket.off('close', abandon);
    route.outcome(backend, 'gateway');
    route.telemetry.errors.connect.inc();
    rawReply(socket, 502, route.replies.badGateway.connect);
    release();
  });
  upstream.end();
}

// Hop-by-hop headers stay: for a 101 the Connection/Upgrade pair is the point.
function rawHead(status: number, message: string, raw: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** rawReply answers on a raw socket (there is no ServerResponse for an upgrade) and closes it. */
export function rawReply(socket: Duplex, status: number, body: Buffer): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString()}`,
  );
}

const UPGRADE_WITH_BODY = Buffer.from(
  JSON.stringify({ error: 'an Upgrade other than websocket with a body' }),
);

function isWebSocket(upgrade: string | undefined): boolean {
  return upgrade !== undefined && upgrade.trim().toLowerCase() === 'websocket';
}

function ignore(): void {}
