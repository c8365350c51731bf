import type http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { TlsMaterial } from '../config/index.js';
import type { BalancerLogger } from './types.js';

/**
 * Downstream HTTP/2: a node:http2 secure server that offers `h2` and `http/1.1` by ALPN on the TLS
 * listener. HTTP/2 requests arrive through Node's compatibility API as Http2Request/Http2Response,
 * which this module shapes so that the HTTP/1.1 data path (proxy, cache, routing) takes them as
 * they are: the request shows the headers an HTTP/1.1 request would carry, and the response drops
 * what HTTP/2 forbids. Upstream requests stay HTTP/1.1.
 */

/** MAX_CONCURRENT_STREAMS is how many streams one client connection may have open (NGINX's default). */
export const MAX_CONCURRENT_STREAMS = 128;

/**
 * IDLE_TIMEOUT_MS: a connection with no frame in either direction for this long gets a GOAWAY
 * (streams still open finish). NGINX's `keepalive_timeout` default.
 */
export const IDLE_TIMEOUT_MS = 75_000;

// HTTP/2 forbids these in a message (RFC 9113 8.2.2); Node throws on all but `connection`, which it
// drops with a process warning. `te` is allowed with `trailers` only, which no response needs.
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
]);

const kHttp1RawHeaders = Symbol('http1RawHeaders');

/**
 * Http2Request is an HTTP/2 request as the balancer sees it: `headers.host` is the `:authority`,
 * and `rawHeaders` is the list an HTTP/1.1 client would have sent — no pseudo-headers, `host`
 * from `:authority` when the client sent no Host, the cookie fields joined into one (RFC 9113
 * 8.2.3), and `transfer-encoding: chunked` when a body follows without a content-length, so the
 * upstream request is framed and the body counted as it streams.
 */
export class Http2Request extends http2.Http2ServerRequest {
  /** Why the balancer does not forward this request (answered 400), or undefined. */
  readonly refusal: string | undefined;
  /** Size of the header list as HTTP/2 counts it (RFC 9113 6.5.2: name + value + 32 per field). */
  readonly headerListSize: number;
  /** The HTTP/1.1 raw header list, shown as `rawHeaders` (see below). */
  readonly [kHttp1RawHeaders]: string[];

  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http.IncomingHttpHeaders,
    options: ConstructorParameters<typeof http2.Http2ServerRequest>[2],
    rawHeaders: readonly string[],
  ) {
    super(stream, headers, options, rawHeaders);
    const authority = headers[':authority'] as string | undefined;
    const host = headers.host;
    // (CONNECT, and so RFC 8441 WebSocket, never gets here: Node answers it 405 itself.)
    // RFC 9113 8.3.1: such a request is malformed; routing on either would be a guess.
    this.refusal =
      authority !== undefined && host !== undefined && authority.toLowerCase() !== host.toLowerCase()
        ? 'Host differs from :authority'
        : undefined;
    let size = 0;
    for (let i = 0; i < rawHeaders.length; i += 2)
      size += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
    this.headerListSize = size;
    if (authority !== undefined) headers.host = authority;
    const chunked = !stream.endAfterHeaders && headers['content-length'] === undefined;
    this[kHttp1RawHeaders] = http1RawHeaders(rawHeaders, authority, chunked);
  }
}

// The compatibility API's own rawHeaders is a getter on its prototype; ours shows the HTTP/1.1 list.
// A getter here rather than a property defined on each instance: defining it was most of the
// constructor's own time, the costliest frame of ours per HTTP/2 request.
Object.defineProperty(Http2Request.prototype, 'rawHeaders', {
  get(this: Http2Request): string[] {
    return this[kHttp1RawHeaders];
  },
});

/**
 * http1RawHeaders turns an HTTP/2 request's raw header list into the one an HTTP/1.1 request would
 * carry (see Http2Request).
 */
export function http1RawHeaders(
  raw: readonly string[],
  authority: string | undefined,
  chunked: boolean,
): string[] {
  const out: string[] = [];
  let hasHost = false;
  let cookieAt = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (name === 'cookie') {
      if (cookieAt >= 0) {
        out[cookieAt + 1] = `${out[cookieAt + 1]}; ${raw[i + 1]}`;
        continue;
      }
      cookieAt = out.length;
    } else if (name === 'host') hasHost = true;
    out.push(name, raw[i + 1]!);
  }
  if (!hasHost && authority !== undefined) out.unshift('host', authority);
  if (chunked) out.push('transfer-encoding', 'chunked');
  return out;
}

/**
 * Http2Response is an HTTP/2 response that takes what the data path writes for HTTP/1.1:
 * `writeHead` ignores the reason phrase (HTTP/2 has none), drops connection-specific fields
 * whoever added them (the proxy's `Connection: close` while closing: on HTTP/2 the GOAWAY says
 * it), and when Node refuses the head (say, a backend's duplicate Content-Type) it forgets the
 * headers it was given, so the 502 that follows can be sent. Its stream never waits for trailers
 * (see respondWithoutTrailers). `destroyed` and `writableFinished` say what they say on node:http
 * (see below).
 */
export class Http2Response extends http2.Http2ServerResponse<Http2Request> {
  constructor(stream: http2.ServerHttp2Stream) {
    super(stream);
    streamRespond ??= stream.respond;
    stream.respond = respondWithoutTrailers;
  }

  override writeHead(statusCode: number, headers?: http.OutgoingHttpHeaders | readonly string[]): this;
  override writeHead(
    statusCode: number,
    statusMessage: string,
    headers?: http.OutgoingHttpHeaders | readonly string[],
  ): this;
  override writeHead(
    statusCode: number,
    messageOrHeaders?: string | http.OutgoingHttpHeaders | readonly string[],
    maybeHeaders?: http.OutgoingHttpHeaders | readonly string[],
  ): this {
    const given = typeof messageOrHeaders === 'string' ? maybeHeaders : messageOrHeaders;
    const headers = given === undefined ? undefined : withoutConnectionSpecific(given);
    try {
      // Node's compatibility API takes a raw [name, value, …] list as node:http does.
      return super.writeHead(statusCode, headers as http.OutgoingHttpHeaders | undefined);
    } catch (err) {
      for (const name of this.getHeaderNames()) if (name.charCodeAt(0) !== 58) this.removeHeader(name);
      throw err;
    }
  }
}

// Two members the data path reads are not what it needs on Node 20's Http2ServerResponse (its
// typings declare them as a Writable's): `destroyed` is missing, and `writableFinished` is true
// for a stream the client reset (RST_STREAM) before the response ended, which would count an abort
// as a whole response and leave the upstream request running. Here a response is finished when it
// was ended and its stream closed without error (read once the response closed, as the data path
// does).
Object.defineProperties(Http2Response.prototype, {
  destroyed: {
    get(this: Http2Response): boolean {
      return this.stream.destroyed;
    },
  },
  writableFinished: {
    get(this: Http2Response): boolean {
      return this.writableEnded && this.stream.rstCode === http2.constants.NGHTTP2_NO_ERROR;
    },
  },
});

function withoutConnectionSpecific(
  headers: http.OutgoingHttpHeaders | readonly string[],
): http.OutgoingHttpHeaders | string[] {
  if (!Array.isArray(headers)) {
    const out: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) out[name] = value;
    }
    return out;
  }
  const raw = headers as readonly string[];
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!CONNECTION_SPECIFIC.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** The prototype's `respond` of node:http2's server streams, taken from the first response's stream. */
let streamRespond: http2.ServerHttp2Stream['respond'] | undefined;

/**
 * respondWithoutTrailers is `respond` for the stream of an Http2Response. The compatibility API
 * always asks for `waitForTrailers`, so every response ends with a 'wantTrailers' event, an empty
 * trailers call deferred to setImmediate and a frame of its own carrying END_STREAM, even with no
 * trailers. The data path sends an HTTP/2 client none (`trailersFit` in proxy.ts), so the last
 * DATA frame carries END_STREAM instead.
 */
function respondWithoutTrailers(
  this: http2.ServerHttp2Stream,
  headers?: http2.OutgoingHttpHeaders,
  options?: http2.ServerStreamResponseOptions,
): void {
  streamRespond!.call(this, headers, { ...options, waitForTrailers: false });
}

/** Http2EdgeOptions configures an Http2Edge. */
export interface Http2EdgeOptions {
  tls: TlsMaterial;
  /** Largest request header block: HTTP/1.1 answers 431, HTTP/2 advertises it as SETTINGS_MAX_HEADER_LIST_SIZE. */
  maxHeaderSize: number;
  /** Longest wait for the TLS handshake, and for HTTP/1.1 clients' request headers, ms. */
  headersTimeout: number;
  /** HTTP/1.1 clients: longest wait for the whole request, ms. */
  requestTimeout: number;
  /** HTTP/1.1 clients: how often the two timeouts above are checked, ms. */
  connectionsCheckingInterval: number;
  /** HTTP/1.1 clients: an idle connection closes after this, ms. @defaultValue IDLE_TIMEOUT_MS */
  keepAliveTimeout?: number;
  /** An HTTP/2 connection without a frame for this long gets a GOAWAY, ms. @defaultValue IDLE_TIMEOUT_MS */
  idleTimeout?: number;
  logger: BalancerLogger;
}

/** RequestListener is the balancer's request handler, for HTTP/1.1 and HTTP/2 requests alike. */
export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * Http2Edge is the balancer's listener when HTTP/2 is on: a node:http2 secure server with
 * `allowHTTP1` (ALPN `h2`, else HTTP/1.1 with the same limits as the node:https server it
 * replaces), that keeps its client connections so closing can send every HTTP/2 connection a
 * GOAWAY at once and cut them all at the deadline.
 */
export class Http2Edge {
  readonly server: http2.Http2SecureServer;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #sockets = new Set<Socket>();
  readonly #idleTimeout: number;
  readonly #logger: BalancerLogger;
  #goingAway = false;

  constructor(options: Http2EdgeOptions, onRequest: RequestListener) {
    this.#idleTimeout = options.idleTimeout ?? IDLE_TIMEOUT_MS;
    this.#logger = options.logger;
    this.server = http2.createSecureServer(
      {
        ...options.tls,
        // headersTimeout only starts with the first byte of a request, after the handshake: a client
        // that connected and sent no ClientHello was held for node:tls's default 120 s, so idle
        // sockets piled up 12 times longer than a slowloris on HTTP/1.1 (NGINX bounds the handshake
        // by client_header_timeout as well).
        handshakeTimeout: options.headersTimeout,
        allowHTTP1: true,
        settings: {
          maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
          maxHeaderListSize: options.maxHeaderSize,
        },
        Http2ServerRequest: Http2Request,
        Http2ServerResponse: Http2Response,
      },
      // Both kinds of request go to the same handler; an HTTP/2 one is shaped by the classes above.
      onRequest as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    // node:http's connection handling reads these from the server for the HTTP/1.1 connections
    // (an http2 server does not take them as options).
    Object.assign(this.server, {
      maxHeaderSize: options.maxHeaderSize,
      headersTimeout: options.headersTimeout,
      requestTimeout: options.requestTimeout,
      connectionsCheckingInterval: options.connectionsCheckingInterval,
      keepAliveTimeout: options.keepAliveTimeout ?? IDLE_TIMEOUT_MS,
    });
    this.server.on('secureConnection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.server.on('session', (session) => this.#track(session));
  }

  /** goAway sends every HTTP/2 connection a GOAWAY, now and as new ones arrive; open streams finish. */
  goAway(): void {
    this.#goingAway = true;
    for (const session of this.#sessions) session.close();
  }

  /** closeIdle closes the HTTP/1.1 connections that have no request in flight. */
  closeIdle(): void {
    // node:http2 adds this http.Server method with allowHTTP1; its typings do not say so.
    (this.server as unknown as http.Server).closeIdleConnections();
  }

  /** closeAll cuts every client connection, HTTP/2 and HTTP/1.1 (the close deadline passed). */
  closeAll(): void {
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }

  #track(session: http2.ServerHttp2Session): void {
    // Read now: once the session is gone its socket is unbound.
    const remote = session.socket.remoteAddress;
    session.on('error', (err: NodeJS.ErrnoException) => {
      // A client that went away has nothing to report (as for HTTP/1.1's clientError).
      if (err.code === 'ECONNRESET') return;
      this.#logger.warn({ remote, code: err.code, err: err.message }, 'balancer: HTTP/2 connection error');
    });
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.setTimeout(this.#idleTimeout, () => session.close());
    // A connection that completes its handshake while the balancer closes is told to go at once.
    if (this.#goingAway) session.close();
  }
}
