import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Picker } from './algorithms/index.js';
import { connectTimeoutError, guardConnect } from './connect-timeout.js';
import { forwardRequestHeaders, forwardResponseHeaders, responseCodingRefusal, schemeOf } from './headers.js';
import type { PoolMember } from './pool.js';
import { type GroupRoute, hashKeyOf, type ProxyPath, routeRetryDecision, tryTimeoutError } from './proxy.js';
import { classifyUpstreamError } from './retry.js';

/**
 * proxyUpgrade passes an `Upgrade` request (WebSocket and the like) through to a backend of `route`
 * on a connection of its own, then splices the two sockets together. The backend counts the
 * connection as in flight until either side closes, so draining waits for open WebSockets (up to
 * its deadline). A handshake whose connection could not be made reached no backend and is tried on
 * another one (within MAX_RETRIES and the retry budget, as a request is); once connected, it is
 * retried only when `per_try_timeout` cut it before any answer, as a bodiless GET is (a reset may
 * have come after the backend acted on it). A tunnel that carries nothing either way for
 * `websocket_idle_timeout` is closed, both sockets.
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
  // Backends whose connection failed; allocated on the first failure only.
  let tried: Set<PoolMember> | undefined;
  let retries = 0;
  const pick = (): PoolMember | undefined =>
    picker.pick(
      route.pool.eligible(),
      key === undefined && tried === undefined ? undefined : { key, exclude: tried },
    );
  const first = pick();
  if (first === undefined) {
    route.telemetry.errors.no_backend.inc();
    rawReply(socket, 503, route.replies.noBackend);
    return;
  }
  let backend: PoolMember = first;
  route.pool.acquire(backend);
  route.inFlight++;
  route.requests++;
  route.telemetry.inFlight.inc();
  route.budget.request(performance.now());
  const releaseBackend = (member: PoolMember): void => {
    route.pool.release(member);
    if (member.removed) proxy.retire(member);
  };
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    clearTimeout(timer);
    proxy.tunnels.delete(socket);
    releaseBackend(backend);
    route.inFlight--;
    route.telemetry.inFlight.dec();
    proxy.exchangeEnded();
  };
  let upstream!: http.ClientRequest;
  // The handshake: until the backend answers, fails or the exchange is given up. Nothing reads a
  // socket handed over by the 'upgrade' event, so a client leaving would go unnoticed (its in-flight
  // count held on the backend for as long as the backend stays silent): read it meanwhile, keeping
  // what it sends early for the tunnel. It is listed in `tunnels` from now on, so the balancer's
  // close deadline cuts a handshake that is still waiting too.
  let answered = false;
  const early: Buffer[] = [];
  let earlyBytes = 0;
  const onEarly = (chunk: Buffer): void => {
    early.push(chunk);
    earlyBytes += chunk.length;
    if (earlyBytes > MAX_EARLY_BYTES) abandon();
  };
  // The current try's per_try_timeout timer; stopped with the watch, at the answer or the end.
  let stopTry = (): void => {};
  const stopWatching = (): void => {
    stopTry();
    socket.off('data', onEarly);
    socket.off('end', abandon);
    socket.off('close', abandon);
  };
  // The client left (or sent too much before any answer): the backend is told by a closed
  // connection, and it is not the backend's failure.
  const abandon = (): void => {
    if (answered) return;
    answered = true;
    stopWatching();
    upstream.destroy();
    socket.destroy();
    release();
  };
  // As for plain requests (`request_timeout`): a backend that takes the connection but never
  // answers the handshake gets the client a 504 instead of a connection open for good. It failed the
  // handshake, connecting or answering (a handshake has no body a client could stall), so it is a
  // gateway failure for outlier detection, as on the proxied path (Exchange.timeout). Before, only
  // connect errors and per-try cuts counted: a backend whose connect or answer ran into
  // request_timeout (one still connecting on a retry, one that accepts and never answers, without
  // per_try_timeout) was never ejected and kept its share of handshakes, each a 504.
  const timer = setTimeout(() => {
    if (!answered) {
      answered = true;
      stopWatching();
      upstream.destroy();
      route.outcome(backend, 'gateway');
      route.telemetry.errors.timeout.inc();
      proxy.logger.warn(
        { group: route.name, backend: backend.id, timeoutMs: proxy.requestTimeout },
        'upgrade request timed out',
      );
      replyAndRelease(504, route.replies.timeout);
    } else if (!socket.destroyed) {
      // A declined upgrade whose answer is still being relayed.
      upstream.destroy();
      socket.destroy();
    }
  }, proxy.requestTimeout);
  // Answers on the client socket (which closes after it); the exchange is over.
  const replyAndRelease = (status: number, body: Buffer): void => {
    socket.resume();
    rawReply(socket, status, body);
    release();
  };
  proxy.tunnels.add(socket);
  socket.on('data', onEarly);
  socket.once('end', abandon);
  socket.once('close', abandon);
  // A 101 to a request that was not offered an upgrade, or one without the headers that make it
  // an upgrade: nothing here could relay what follows it.
  const refuse101 = (): void => {
    route.telemetry.errors.other.inc();
    upstream.destroy();
    replyAndRelease(502, route.replies.badGateway.other);
  };
  const send = (): void => {
    // The handshake's time to an answer is the backend's latency sample (ewma): a tunnel counts in
    // flight while open, and ewma gives a backend with none yet nothing more while one is out.
    const attemptStarted = performance.now();
    const observe = (): void => picker.observe?.(backend, performance.now() - attemptStarted);
    const request = http.request({
      agent: false,
      host: backend.host,
      port: backend.port,
      method: req.method,
      path: req.url,
      headers: forwarded.headers,
    });
    upstream = request;
    guardConnect(request, proxy.connectTimeout);
    // per_try_timeout, as on the proxied path (see Exchange.tryTimedOut): a backend that takes the
    // connection but never answers the handshake is cut and, the handshake being a bodiless GET,
    // retried elsewhere; one still connecting sent nothing, a connect timeout. Before, upgrades had
    // no per-try timer: such a backend cost the client the whole request_timeout and a 504. The
    // verdict waits one turn of the loop, so an answer that came while the loop was busy is read.
    const perTryMs = proxy.perTryTimeout;
    let cutByTry = false;
    if (perTryMs !== undefined) {
      let verdict: NodeJS.Immediate | undefined;
      const tryTimer = setTimeout(() => {
        verdict = setImmediate(() => {
          if (request !== upstream || answered) return;
          const connecting = request.socket == null || request.socket.connecting;
          cutByTry = !connecting;
          request.destroy(connecting ? connectTimeoutError(perTryMs) : tryTimeoutError(perTryMs));
        });
      }, perTryMs);
      stopTry = () => {
        clearTimeout(tryTimer);
        clearImmediate(verdict);
      };
    }
    request.on('upgrade', (response, upSocket, upHead) => {
      if (request !== upstream || answered) {
        upSocket.destroy();
        return;
      }
      answered = true;
      stopWatching();
      observe();
      if (!tunnel) {
        upSocket.destroy();
        refuse101();
        return;
      }
      clearTimeout(timer);
      upSocket.on('error', ignore);
      socket.write(rawHead(101, response.statusMessage ?? 'Switching Protocols', response.rawHeaders));
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      for (const chunk of early) upSocket.write(chunk);
      const close = (): void => {
        clearTimeout(idle);
        socket.destroy();
        upSocket.destroy();
        release();
      };
      // As NGINX's proxy_read_timeout on an upgraded connection: a tunnel over which neither side
      // sent anything for this long is closed. Before, nothing timed an open tunnel: one whose peer
      // vanished without a FIN or a reset (a laptop lid closed, a NAT entry dropped) held its
      // sockets and its backend's in-flight count for good, and kept draining waiting.
      const idleMs = proxy.websocketIdleTimeout;
      const idle =
        idleMs > 0
          ? setTimeout(() => {
              proxy.logger.info(
                { group: route.name, backend: backend.id, idleMs },
                'websocket tunnel idle, closed',
              );
              close();
            }, idleMs)
          : undefined;
      if (idle !== undefined) {
        const active = (): void => void idle.refresh();
        socket.on('data', active);
        upSocket.on('data', active);
      }
      // Either side's FIN ends the tunnel (sockets from an http server allow half-open, and a
      // half-closed tunnel would otherwise hold its in-flight count forever), but only once what
      // that side sent is written out to the other, as NGINX ends an upgraded connection: the pipe
      // ends the other side after the last bytes, and its 'finish' says they are gone. Destroyed at
      // the FIN, a slow reader lost what was still queued for it (the last message, the close frame).
      let clientEnded = false;
      socket.once('end', () => {
        clientEnded = true;
      });
      socket.once('finish', close);
      // The backend socket also ends itself at the backend's own FIN (no half-open there): that
      // one says nothing about the client's bytes.
      upSocket.once('finish', () => {
        if (clientEnded) close();
      });
      socket.once('close', close);
      upSocket.once('close', close);
      socket.pipe(upSocket);
      upSocket.pipe(socket);
      route.outcome(backend, 'success');
    });
    request.on('response', (response) => {
      if (request !== upstream || answered) {
        response.destroy();
        return;
      }
      answered = true;
      stopWatching();
      observe();
      // The backend declined the upgrade (or was not offered one): relay its answer and close. The
      // body is relayed decoded, so Transfer-Encoding goes with the other hop-by-hop headers; without
      // a Content-Length the close ends the body. The timer still cuts a relay that never ends.
      if (response.statusCode === 101) {
        response.destroy();
        refuse101();
        return;
      }
      // As on the proxied path: the coding would go, its bytes would not (see responseCodingRefusal).
      const coding = responseCodingRefusal(response.headers['transfer-encoding']);
      if (coding !== undefined) {
        proxy.logger.warn(
          { group: route.name, backend: backend.id, err: coding },
          'upgrade response not forwardable',
        );
        response.destroy();
        refuse101();
        return;
      }
      socket.resume();
      // Over once the answer is written out, or the client left.
      socket.once('finish', release);
      socket.once('close', () => {
        upstream.destroy();
        release();
      });
      const headers = forwardResponseHeaders(response.rawHeaders);
      headers.push('Connection', 'close');
      socket.write(rawHead(response.statusCode ?? 502, response.statusMessage ?? '', headers));
      response.pipe(socket);
      response.on('error', () => socket.destroy());
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      // An attempt given up for another one: its errors are its own.
      if (request !== upstream) return;
      // After an answer, a timeout or the client leaving, the error is ours or already handled.
      if (answered) {
        socket.destroy();
        return;
      }
      stopTry();
      const failure = classifyUpstreamError(err);
      const failed = backend;
      if (failure !== 'other') route.outcome(failed, 'gateway');
      route.telemetry.errors[failure].inc();
      if (failure === 'connect' || cutByTry) {
        tried ??= new Set();
        tried.add(failed);
        const decision = routeRetryDecision(route, {
          method: req.method ?? 'GET',
          failure,
          reusedSocket: false,
          hasBody: forwarded.hasBody,
          perTryTimeout: cutByTry,
          retries,
        });
        const next = decision.retry ? pick() : undefined;
        proxy.logger.warn(
          {
            group: route.name,
            backend: failed.id,
            code: err.code,
            retry: next !== undefined,
            reason: decision.reason,
          },
          'upgrade request failed',
        );
        if (next !== undefined) {
          releaseBackend(failed);
          backend = next;
          route.pool.acquire(next);
          retries++;
          route.budget.spend(performance.now());
          route.telemetry.retries.inc();
          send();
          return;
        }
      }
      answered = true;
      stopWatching();
      const reply = route.replies.failed(failure, err);
      replyAndRelease(reply.status, reply.body);
    });
    request.end();
  };
  send();
}

/** MAX_EARLY_BYTES bounds what a client may send before the backend answered its upgrade. */
const MAX_EARLY_BYTES = 64 * 1024;

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
