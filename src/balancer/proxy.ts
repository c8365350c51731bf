import http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Counter } from 'prom-client';
import { type Dispatcher, Pool as UndiciPool } from 'undici';
import {
  type BatchedCounter,
  type BatchedGauge,
  type BatchedHistogram,
  batchedCounter,
  batchedGauge,
  batchedHistogram,
  type ScaleplaneMetrics,
} from '../metrics/index.js';
import type { HashKeySource, PickContext, Picker } from './algorithms/index.js';
import {
  connectTimeoutError,
  defaultConnectTimeout,
  guardConnect,
  guardedConnector,
} from './connect-timeout.js';
import { headGate } from './head-gate.js';
import {
  type ForwardedRequest,
  forwardRequestHeaders,
  forwardResponseHeaders,
  forwardTrailers,
  responseCodingRefusal,
  schemeOf,
} from './headers.js';
import type { OutlierOutcome } from './outlier.js';
import type { Pool, PoolMember } from './pool.js';
import { requestTimeoutVerdict } from './request-timeout.js';
import { breakResponse, sendJson } from './respond.js';
import {
  classifyUpstreamError,
  gatewayStatus,
  MAX_RETRIES,
  mayRepeat,
  REPLAY_BODY_LIMIT,
  RETRY_OVERFLOWS,
  type RetryDecision,
  type RetryInput,
  type RetryOverflow,
  retryDecision,
  retryOverflow,
  type UpstreamFailure,
} from './retry.js';
import type { RetryBudget } from './retry-budget.js';
import type { BalancerLogger } from './types.js';

/** StatusClass is the `code` label of `scaleplane_requests_total`. */
export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'error';

/** UpstreamErrorKind is the `kind` label of `scaleplane_upstream_errors_total`. */
export type UpstreamErrorKind = UpstreamFailure | 'no_backend';

/** FailedAttempt is what `routeRetryDecision` needs to know about an attempt that got no response. */
export type FailedAttempt = Pick<RetryInput, 'method' | 'failure' | 'reusedSocket' | 'retries'> &
  Partial<
    Pick<RetryInput, 'hasBody' | 'bodyStarted' | 'bodyReplayable' | 'idempotencyKey' | 'perTryTimeout'>
  >;

/**
 * routeRetryDecision is `retryDecision` for an attempt on `route` that got no response: at most
 * MAX_RETRIES, within the route's retry budget. Left out, `hasBody`, `bodyStarted`,
 * `bodyReplayable`, `idempotencyKey` and `perTryTimeout` are false (a bodiless request without an Idempotency-Key,
 * not cut by the per-try timeout).
 */
export function routeRetryDecision(route: GroupRoute, attempt: FailedAttempt): RetryDecision {
  const input: RetryInput = {
    method: attempt.method,
    failure: attempt.failure,
    reusedSocket: attempt.reusedSocket,
    hasBody: attempt.hasBody ?? false,
    bodyStarted: attempt.bodyStarted ?? false,
    bodyReplayable: attempt.bodyReplayable ?? false,
    responseStarted: false,
    idempotencyKey: attempt.idempotencyKey ?? false,
    perTryTimeout: attempt.perTryTimeout ?? false,
    retries: attempt.retries,
    maxRetries: MAX_RETRIES,
    // Only asked here: the retry is spent where it is made, once a backend was picked for it (a
    // failure with nowhere else to go spent one before, and starved the next request's real retry).
    budgetAvailable: () => route.budget.allows(performance.now()),
  };
  const decision = retryDecision(input);
  // Before, a refused retry was only logged: operators alert on these, as on Envoy's retry_overflow
  // and retry_limit_exceeded, which say apart a spent budget (retries storming) from a request that
  // failed on every instance it was given.
  const overflow = retryOverflow(input, decision);
  if (overflow !== undefined) route.telemetry.retryOverflows[overflow].inc();
  return decision;
}

/**
 * pickAttempt picks the backend for an attempt. When the picker finds none left (the others were
 * tried), `lastResort` gets the request again, on another connection, if still eligible: a
 * backend whose *reused* keep-alive connection broke before any response byte to a request
 * `retryDecision` let retry (`StaleKeepAlive`), as NGINX gives a failed cached connection another
 * try on its single server. That is the keep-alive race (the backend closed the idle connection
 * as the request went out), not the backend failing: excluding the only backend made each such
 * race a 502.
 */
export function pickAttempt(
  picker: Picker,
  pool: Pool,
  ctx: PickContext | undefined,
  lastResort: PoolMember | undefined,
): PoolMember | undefined {
  const eligible = pool.eligible();
  const picked = picker.pick(eligible, ctx);
  if (picked !== undefined || lastResort === undefined) return picked;
  return eligible.includes(lastResort) ? lastResort : undefined;
}

/**
 * GroupTelemetry holds one group's metric children, resolved once so a request does no label
 * lookups. The three every request moves are batched (see src/metrics/batched.ts): prom-client's
 * children cost about 3 µs a request between them; retries and errors are rare and go direct.
 */
export class GroupTelemetry {
  readonly inFlight: BatchedGauge;
  readonly duration: BatchedHistogram;
  readonly retries: Counter.Internal;
  readonly retryOverflows: Readonly<Record<RetryOverflow, Counter.Internal>>;
  readonly requests: Readonly<Record<StatusClass, BatchedCounter>>;
  readonly errors: Readonly<Record<UpstreamErrorKind, Counter.Internal>>;

  constructor(metrics: ScaleplaneMetrics, group: string) {
    this.inFlight = batchedGauge(metrics.inFlight, { group });
    this.duration = batchedHistogram(metrics.requestDuration, { group });
    this.retries = metrics.retries.labels({ group });
    // Both reasons made up front, so each series reads 0 until it moves.
    const overflows = {} as Record<RetryOverflow, Counter.Internal>;
    for (const reason of RETRY_OVERFLOWS)
      overflows[reason] = metrics.retryOverflows.labels({ group, reason });
    this.retryOverflows = overflows;
    const requests = (code: StatusClass) => batchedCounter(metrics.requests, { group, code });
    this.requests = {
      '2xx': requests('2xx'),
      '3xx': requests('3xx'),
      '4xx': requests('4xx'),
      '5xx': requests('5xx'),
      error: requests('error'),
    };
    const errors = (kind: UpstreamErrorKind) => metrics.upstreamErrors.labels({ group, kind });
    this.errors = {
      connect: errors('connect'),
      reset: errors('reset'),
      timeout: errors('timeout'),
      other: errors('other'),
      no_backend: errors('no_backend'),
    };
  }
}

/** GroupReplies are one group's canned JSON error bodies, rendered once. */
export class GroupReplies {
  readonly noBackend: Buffer;
  readonly timeout: Buffer;
  readonly clientTimeout: Buffer;
  readonly tooLarge: Buffer;
  readonly badGateway: Readonly<Record<UpstreamFailure, Buffer>>;
  readonly connectTimedOut: Buffer;

  constructor(group: string) {
    const render = (error: string) => Buffer.from(JSON.stringify({ error, group }));
    this.noBackend = render('no healthy backend');
    this.timeout = render('upstream timed out');
    this.clientTimeout = render('request body not received in time');
    this.tooLarge = render('request body too large');
    this.badGateway = {
      connect: render('upstream connect failed'),
      reset: render('upstream connection reset'),
      timeout: render('upstream timed out'),
      other: render('upstream error'),
    };
    this.connectTimedOut = render('upstream connect timed out');
  }

  /**
   * failed is the answer to a request whose last attempt failed on `err` (of kind `failure`) with
   * nothing left to try: its status by `gatewayStatus` (504 for a timeout, connecting included;
   * 502 otherwise) and a body naming the failure.
   */
  failed(failure: UpstreamFailure, err: unknown): GatewayReply {
    const status = gatewayStatus(err);
    if (status === 504) return { status, body: failure === 'connect' ? this.connectTimedOut : this.timeout };
    return { status, body: this.badGateway[failure] };
  }
}

/** GatewayReply is the status and body a client gets for a request no backend answered. */
export interface GatewayReply {
  readonly status: 502 | 504;
  readonly body: Buffer;
}

/** OutcomeListener hears how attempts on a backend went (for passive outlier detection). */
export type OutcomeListener = (member: PoolMember, outcome: OutlierOutcome) => void;

/** GroupRoute is one group as the data path sees it: where to send, and what to count. */
export class GroupRoute {
  readonly name: string;
  readonly pool: Pool;
  /** The group's own picker; a route may bring another one over the same pool. */
  readonly picker: Picker;
  readonly telemetry: GroupTelemetry;
  readonly replies: GroupReplies;
  readonly budget: RetryBudget;
  /** Told of failures, and of the first success after failures; not of every success. */
  readonly onOutcome: OutcomeListener;
  /** Requests of this group in flight. */
  inFlight = 0;
  /** Requests routed to this group since it was added. */
  requests = 0;

  constructor(
    name: string,
    pool: Pool,
    picker: Picker,
    metrics: ScaleplaneMetrics,
    budget: RetryBudget,
    onOutcome: OutcomeListener,
  ) {
    this.name = name;
    this.pool = pool;
    this.picker = picker;
    this.telemetry = new GroupTelemetry(metrics, name);
    this.replies = new GroupReplies(name);
    this.budget = budget;
    this.onOutcome = onOutcome;
  }

  /** outcome reports one attempt's result, skipping the common all-well case cheaply. */
  outcome(member: PoolMember, outcome: OutlierOutcome): void {
    if (outcome === 'success' && member.consecutive5xx === 0 && member.consecutiveGateway === 0) return;
    this.onOutcome(member, outcome);
  }
}

/** ProxyOptions configures a ProxyPath. */
export interface ProxyOptions {
  /** The one keep-alive agent every upstream request goes through. */
  agent: http.Agent;
  /** Whole-request timeout, ms. */
  requestTimeout: number;
  /** Largest request body, bytes. */
  maxRequestBody: number;
  /** Largest response header block from a backend, bytes. */
  maxHeaderSize: number;
  logger: BalancerLogger;
  /** Called after each request ends while the proxy is closing, so idle client sockets can go. */
  onClosingExchangeEnd: () => void;
  /**
   * Idle upstream keep-alive sockets of the undici pools close after this, ms; keep it below the
   * backends' own keep-alive timeout. @defaultValue 4000
   */
  upstreamKeepAliveTimeout?: number;
  /**
   * Longest a backend connection may take to open, ms; past it the attempt is a connect failure,
   * retried elsewhere for any method. @defaultValue `defaultConnectTimeout(requestTimeout)`: 10000,
   * or a third of `requestTimeout` when shorter
   */
  connectTimeout?: number;
  /**
   * Longest one try may wait for response headers, ms; past it the try is cut and retried
   * elsewhere where `retryDecision` allows (see `Exchange.tryTimedOut`). @defaultValue off
   */
  perTryTimeout?: number;
  /**
   * An upgraded connection (WebSocket tunnel) over which neither side sent anything for this long,
   * ms, is closed; 0 = never. @defaultValue DEFAULT_WEBSOCKET_IDLE_TIMEOUT (60000)
   */
  websocketIdleTimeout?: number;
}

/**
 * DEFAULT_WEBSOCKET_IDLE_TIMEOUT is how long a WebSocket tunnel may carry nothing either way before
 * it is closed, ms: NGINX's proxy_read_timeout default, which is what times its upgraded connections.
 */
export const DEFAULT_WEBSOCKET_IDLE_TIMEOUT = 60_000;

const NO_GROUP = Buffer.from(JSON.stringify({ error: 'no group configured' }));
const UNFORWARDABLE = Buffer.from(JSON.stringify({ error: 'request cannot be forwarded' }));

/**
 * ProxyPath is the data path: it forwards one client request (HTTP/1.1, or HTTP/2 as http2.ts
 * shapes it) over HTTP/1.1 to a backend of a group, streaming both bodies, retrying only where
 * `retryDecision` allows, and accounting in-flight requests per backend so draining can wait for
 * them.
 */
export class ProxyPath {
  readonly agent: http.Agent;
  readonly requestTimeout: number;
  readonly maxRequestBody: number;
  readonly maxHeaderSize: number;
  readonly connectTimeout: number;
  readonly perTryTimeout: number | undefined;
  readonly websocketIdleTimeout: number;
  readonly logger: BalancerLogger;
  /** Once set, responses carry `Connection: close` so clients leave. */
  closing = false;
  /** Client sockets of upgrades (WebSockets), open or still in their handshake, cut at the close deadline. */
  readonly tunnels = new Set<Duplex>();
  readonly #onClosingExchangeEnd: () => void;
  readonly #keepAliveTimeout: number;
  /** One undici pool per backend, for the bodiless GET/HEAD requests (see `fastPath`). */
  readonly #pools = new Map<PoolMember, UndiciPool>();

  constructor(options: ProxyOptions) {
    this.agent = options.agent;
    this.#keepAliveTimeout = options.upstreamKeepAliveTimeout ?? 4000;
    this.requestTimeout = options.requestTimeout;
    this.maxRequestBody = options.maxRequestBody;
    this.maxHeaderSize = options.maxHeaderSize;
    this.connectTimeout = options.connectTimeout ?? defaultConnectTimeout(options.requestTimeout);
    this.perTryTimeout = options.perTryTimeout;
    this.websocketIdleTimeout = options.websocketIdleTimeout ?? DEFAULT_WEBSOCKET_IDLE_TIMEOUT;
    this.logger = options.logger;
    this.#onClosingExchangeEnd = options.onClosingExchangeEnd;
  }

  /** handle proxies one request to a backend of `route`, chosen by `picker`. */
  handle(route: GroupRoute, picker: Picker, req: http.IncomingMessage, res: http.ServerResponse): void {
    new Exchange(this, route, picker, req, res).start();
  }

  /** noRoute answers a request that no group can take. */
  noRoute(res: http.ServerResponse): void {
    sendJson(res, 503, NO_GROUP, this.closing);
  }

  /**
   * retire destroys the idle keep-alive sockets of a backend that left its pool, once nothing is in
   * flight on it; otherwise it is called again when its last request ends.
   */
  retire(member: PoolMember): void {
    if (member.inFlight !== 0) return;
    // After the current tick, so a socket the agent is just taking back is idle by then.
    setImmediate(destroyIdleSockets, this.agent, member);
    const pool = this.#pools.get(member);
    if (pool !== undefined) {
      this.#pools.delete(member);
      // Nothing is in flight on it: close() only ends its idle sockets.
      pool.close().catch(ignore);
    }
  }

  /**
   * poolFor is the backend's undici pool: keep-alive, one request per connection at a time (no
   * pipelining), idle sockets closed after `upstreamKeepAliveTimeout` (or the backend's own hint if
   * shorter), connects timed out by guardedConnector, no other timeouts of its own — the
   * exchange's request timeout governs.
   */
  poolFor(member: PoolMember): UndiciPool {
    let pool = this.#pools.get(member);
    if (pool === undefined) {
      const host = member.host.includes(':') ? `[${member.host}]` : member.host;
      pool = new UndiciPool(`http://${host}:${member.port}`, {
        pipelining: 1,
        keepAliveTimeout: this.#keepAliveTimeout,
        keepAliveMaxTimeout: this.#keepAliveTimeout,
        maxHeaderSize: this.maxHeaderSize,
        connect: guardedConnector(this.connectTimeout),
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.#pools.set(member, pool);
    }
    return pool;
  }

  /** destroy closes every upstream connection at once (the balancer's close deadline passed). */
  async destroy(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(ignore)));
  }

  /** exchangeEnded is called by every request as it ends. */
  exchangeEnded(): void {
    if (this.closing) this.#onClosingExchangeEnd();
  }
}

const kExchange = Symbol('scaleplane.exchange');

type Tagged<T> = T & { [kExchange]: Exchange };

/** Exchange is one client request on its way through the proxy, across its attempts. */
class Exchange {
  readonly proxy: ProxyPath;
  readonly route: GroupRoute;
  readonly picker: Picker;
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly started = performance.now();
  forwarded!: ForwardedRequest;
  key: string | undefined;
  attemptStarted = 0;
  bodyBytes = 0;
  timer: NodeJS.Timeout | undefined;
  /** The per-try timer of the current attempt, while it waits for response headers. */
  tryTimer: NodeJS.Timeout | undefined;
  /** The per-try timeout's verdict, one turn of the loop after its timer (see `tryTimedOut`). */
  tryVerdict: NodeJS.Immediate | undefined;
  backend: PoolMember | undefined;
  upstream: http.ClientRequest | UndiciAttempt | undefined;
  upstreamResponse: http.IncomingMessage | undefined;
  /** Backends this request failed on; allocated on the first failure only. */
  tried: Set<PoolMember> | undefined;
  failure: UpstreamFailure | undefined;
  /** The answer due if no retry is left after `failure`. */
  failureReply: GatewayReply | undefined;
  /** A backend a retry may go back to when no other is left (see `attempt`). */
  lastResort: PoolMember | undefined;
  retries = 0;
  bodyStarted = false;
  /** The client's body as far as it arrived, while a retry may need to send it again (see start). */
  replay: Buffer[] | undefined;
  replayBytes = 0;
  /** `onBodyData` listens on the client's body (attached with the first attempt's body). */
  bodyListened = false;
  timedOut = false;
  done = false;

  constructor(
    proxy: ProxyPath,
    route: GroupRoute,
    picker: Picker,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ) {
    this.proxy = proxy;
    this.route = route;
    this.picker = picker;
    this.req = req;
    this.res = res;
  }

  start(): void {
    const { route, req, res } = this;
    route.requests++;
    route.inFlight++;
    route.telemetry.inFlight.inc();
    route.budget.request(this.started);
    (res as Tagged<http.ServerResponse>)[kExchange] = this;
    res.on('close', onResponseClose);
    this.timer = setTimeout(onExchangeTimeout, this.proxy.requestTimeout, this);
    this.forwarded = forwardRequestHeaders(
      req.rawHeaders,
      req.socket.remoteAddress,
      schemeOf(req.socket),
      this.trailersFit(200, true),
    );
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.proxy.maxRequestBody) {
      this.reply(413, route.replies.tooLarge, true);
      return;
    }
    // HTTP/1.0 clients may omit Host; HTTP/1.1 backends require one.
    if (this.forwarded.host === undefined) this.forwarded.headers.push('Host', localHost(req.socket));
    // Kept only for a request a retry may repeat, and only while small (see REPLAY_BODY_LIMIT).
    if (
      this.forwarded.hasBody &&
      mayRepeat(req.method ?? 'GET', this.forwarded.idempotencyKey) &&
      !(Number(declared) > REPLAY_BODY_LIMIT)
    )
      this.replay = [];
    if (this.picker.hashKey !== undefined) this.key = hashKeyOf(req, this.picker.hashKey);
    // A try's time starts once the backend can have the whole request (Envoy starts its per-try
    // timer at the end of the downstream request): a client still uploading is request_timeout's.
    if (this.proxy.perTryTimeout !== undefined && this.forwarded.hasBody && !req.complete)
      req.once('end', () => this.armTry());
    this.attempt();
  }

  /**
   * armTry starts the current attempt's per-try timer (`per_try_timeout`), when one is set, the
   * attempt has no response yet and the client's body, if any, arrived whole.
   */
  armTry(): void {
    const ms = this.proxy.perTryTimeout;
    if (ms === undefined || this.done || this.upstream === undefined || this.tryTimer !== undefined) return;
    if (this.upstreamResponse !== undefined || this.res.headersSent) return;
    if (this.forwarded.hasBody && !this.req.complete) return;
    this.tryTimer = setTimeout(onTryTimeout, ms, this);
  }

  clearTry(): void {
    clearTimeout(this.tryTimer);
    clearImmediate(this.tryVerdict);
    this.tryTimer = undefined;
    this.tryVerdict = undefined;
  }

  /**
   * tryTimedOut cuts the current attempt, which got no response headers within `per_try_timeout`,
   * and fails it as an upstream timeout: `retryDecision` retries it elsewhere only where a reset
   * before any response byte would be (never a request with a body or a non-idempotent one without
   * an Idempotency-Key); otherwise the client gets a 504. A try still connecting sent nothing: that
   * is a connect timeout, retried for any method, as `connect_timeout` would have.
   *
   * Called one turn of the loop after the timer, as guardConnect's verdict is: Node runs due timers
   * before it polls the sockets, so after the loop was busy past the timeout (a GC pause, a burst)
   * response headers the kernel already holds are read first, rather than the try cut and a
   * healthy backend blamed.
   */
  tryTimedOut(): void {
    this.tryTimer = undefined;
    this.tryVerdict = undefined;
    const upstream = this.upstream;
    if (this.done || upstream === undefined || this.upstreamResponse !== undefined || this.res.headersSent)
      return;
    const ms = this.proxy.perTryTimeout!;
    const connecting =
      !(upstream instanceof UndiciAttempt) && (upstream.socket == null || upstream.socket.connecting);
    this.upstreamFailed(upstream, connecting ? connectTimeoutError(ms) : tryTimeoutError(ms), !connecting);
  }

  attempt(): void {
    const { route, picker } = this;
    const ctx: PickContext | undefined =
      this.tried === undefined && this.key === undefined ? undefined : { exclude: this.tried, key: this.key };
    const backend = pickAttempt(picker, route.pool, ctx, this.lastResort);
    this.lastResort = undefined;
    if (backend === undefined) {
      if (this.failureReply === undefined) {
        route.telemetry.errors.no_backend.inc();
        this.reply(503, route.replies.noBackend);
      } else {
        this.reply(this.failureReply.status, this.failureReply.body);
      }
      return;
    }
    if (this.tried !== undefined) {
      this.retries++;
      route.budget.spend(performance.now());
      route.telemetry.retries.inc();
    }
    this.backend = backend;
    route.pool.acquire(backend);
    if (picker.observe !== undefined) this.attemptStarted = performance.now();
    if (!this.forwarded.hasBody && fastMethod(this.req.method)) {
      const attempt = new UndiciAttempt(this);
      this.upstream = attempt;
      this.armTry();
      this.proxy
        .poolFor(backend)
        .dispatch(
          { path: this.req.url ?? '/', method: this.req.method!, headers: this.forwarded.headers },
          attempt,
        );
      return;
    }
    let upstream: Tagged<http.ClientRequest>;
    try {
      upstream = http.request({
        agent: this.proxy.agent,
        host: backend.host,
        port: backend.port,
        method: this.req.method,
        path: this.req.url,
        headers: this.forwarded.headers,
        maxHeaderSize: this.proxy.maxHeaderSize,
      }) as Tagged<http.ClientRequest>;
      // All of a response's header fields, not node:http's first 2000: `maxHeaderSize` bounds them.
      upstream.maxHeadersCount = 0;
    } catch (err) {
      // Node's client is stricter than its parser about some header and path bytes.
      this.unforwardable(err as Error);
      return;
    }
    upstream[kExchange] = this;
    this.upstream = upstream;
    this.armTry();
    guardConnect(upstream, this.proxy.connectTimeout);
    upstream.on('response', onUpstreamResponse);
    upstream.on('error', onUpstreamError);
    if (this.forwarded.hasBody) upstream.once('socket', onUpstreamSocket);
    else upstream.end();
  }

  /** unforwardable answers 400 to a request the upstream client refuses to send as it is. */
  unforwardable(err: Error): void {
    this.clearTry();
    this.upstream = undefined;
    this.releaseBackend();
    this.proxy.logger.warn({ group: this.route.name, err: err.message }, 'request cannot be forwarded');
    this.reply(400, UNFORWARDABLE);
  }

  /**
   * Streams the client's body to the backend; only called once the connection exists. A retry
   * first sends again what the client sent so far (kept in `replay`), then the rest as it comes.
   */
  sendBody(upstream: http.ClientRequest | UndiciAttempt): void {
    if (this.upstream !== upstream || this.done || this.timedOut) return;
    this.bodyStarted = true;
    const counted = this.req.headers['content-length'] === undefined;
    if (!this.bodyListened && (counted || this.replay !== undefined)) {
      this.bodyListened = true;
      this.req.on('data', (chunk: Buffer) => this.onBodyData(chunk, counted));
    }
    if (upstream instanceof UndiciAttempt) return;
    if (this.replay !== undefined) for (const chunk of this.replay) upstream.write(chunk);
    // Not stream.pipeline: on an upstream failure it would destroy the client request, and with it
    // the client's socket, so the 502 could never be sent. The response side is forwarded by hand.
    // Not ended by pipe either: the client's trailer fields, known at its 'end', go first.
    this.req.pipe(upstream, { end: false });
    // A retry after the client's body ended has all of it above: end it now.
    if (this.req.readableEnded) this.requestEnded(upstream);
    else this.req.once('end', () => this.requestEnded(upstream));
  }

  /** onBodyData sees each chunk of the client's body as it streams: counts it (chunked), keeps it. */
  onBodyData(chunk: Buffer, counted: boolean): void {
    if (counted) this.countBody(chunk.length);
    if (this.replay === undefined) return;
    this.replayBytes += chunk.length;
    if (this.replayBytes <= REPLAY_BODY_LIMIT) this.replay.push(chunk);
    else this.replay = undefined;
  }

  /** Ends the upstream request once the client's body ended, with the client's trailers. */
  requestEnded(upstream: http.ClientRequest): void {
    if (this.upstream !== upstream || upstream.destroyed) return;
    // Only a chunked upstream request has a trailer section; a declared length has none.
    if (this.req.rawTrailers.length > 0 && upstream.chunkedEncoding)
      upstream.addTrailers(forwardTrailers(this.req.rawTrailers));
    upstream.end();
  }

  /**
   * trailersFit says whether the client's response can carry the backend's trailer fields: the
   * backend's is chunked, and so is ours (HTTP/1.1 with a body; HTTP/1.0 has no trailer section,
   * and the HTTP/2 listener sends none, see http2.ts).
   */
  trailersFit(statusCode: number, upstreamChunked: boolean): boolean {
    return (
      upstreamChunked &&
      this.res.useChunkedEncodingByDefault === true &&
      this.req.method !== 'HEAD' &&
      statusCode !== 204 &&
      statusCode !== 304
    );
  }

  /** Ends the client's response, with the backend's trailer fields where its framing carries them. */
  endResponse(rawTrailers: readonly string[]): void {
    const res = this.res;
    if (rawTrailers.length > 0 && res.chunkedEncoding === true) res.addTrailers(forwardTrailers(rawTrailers));
    res.end();
    // The backend said all it will say before it had the whole body: what is left of it goes
    // nowhere. Piping it on held the backend connection (half a request on it, never reusable)
    // backpressured for good when the backend read no more, and with it the client's connection.
    if (this.bodyStarted && !this.req.complete && this.upstream !== undefined) {
      this.abandonUpstream(this.upstream);
      this.req.resume();
    }
  }

  countBody(bytes: number): void {
    this.bodyBytes += bytes;
    if (this.bodyBytes <= this.proxy.maxRequestBody || this.done) return;
    this.bodyBytes = -Infinity;
    if (this.upstream !== undefined) this.abandonUpstream(this.upstream);
    this.releaseBackend();
    this.reply(413, this.route.replies.tooLarge, true);
  }

  respond(upstreamResponse: http.IncomingMessage): void {
    this.clearTry();
    this.upstreamResponse = upstreamResponse;
    const backend = this.backend!;
    if (this.picker.observe !== undefined) {
      this.picker.observe(backend, performance.now() - this.attemptStarted);
    }
    const statusCode = upstreamResponse.statusCode ?? 502;
    this.route.outcome(backend, statusCode >= 500 ? '5xx' : 'success');
    // The HTTP cache may hold an unsafe request's answer until the other processes' caches have
    // dropped what it invalidates (see head-gate.ts). The body waits unread meanwhile.
    const held = headGate(this.res)?.(statusCode, upstreamResponse.rawHeaders);
    if (held === undefined) {
      this.forwardHead(upstreamResponse, statusCode);
      return;
    }
    upstreamResponse.on('error', ignore);
    const go = (): void => {
      upstreamResponse.off('error', ignore);
      // Timed out, or the client left, while held: the answer has nowhere to go.
      if (this.upstreamResponse !== upstreamResponse || this.timedOut || this.done || this.res.headersSent) {
        upstreamResponse.destroy();
        return;
      }
      this.forwardHead(upstreamResponse, statusCode);
    };
    held.then(go, go);
  }

  /** forwardHead writes a backend answer's head to the client and streams its body after it. */
  forwardHead(upstreamResponse: http.IncomingMessage, statusCode: number): void {
    const headers = forwardResponseHeaders(
      upstreamResponse.rawHeaders,
      this.trailersFit(statusCode, upstreamResponse.headers['transfer-encoding'] !== undefined),
    );
    if (upstreamResponse.headers['x-request-id'] === undefined)
      headers.push('X-Request-Id', this.forwarded!.requestId);
    // An answer before the whole body arrived (a 401 or 413 decided from the headers): the client
    // connection can carry no other request until the rest is read, which ends with this one (see
    // endResponse), so it closes after the answer, as `reply` does and NGINX would.
    if (this.proxy.closing || !this.req.complete) headers.push('Connection', 'close');
    try {
      const coding = responseCodingRefusal(upstreamResponse.headers['transfer-encoding']);
      if (coding !== undefined) throw new Error(coding);
      this.res.writeHead(statusCode, upstreamResponse.statusMessage, headers);
    } catch (err) {
      // Node refuses what it cannot send on (e.g. a status outside 100-999); the client gets a 502.
      upstreamResponse.destroy();
      this.route.telemetry.errors.other.inc();
      this.proxy.logger.warn(
        { group: this.route.name, backend: this.backend?.id, err: (err as Error).message },
        'upstream response not forwardable',
      );
      this.reply(502, this.route.replies.badGateway.other);
      return;
    }
    // By hand rather than stream.pipeline, which costs an AbortController, a DOMException and
    // end-of-stream watchers per request (~6% of the CPU at full load). Client-side failures reach
    // finish() through the response's 'close'; upstream ones are handled here.
    (upstreamResponse as Tagged<http.IncomingMessage>)[kExchange] = this;
    upstreamResponse.on('data', onUpstreamData);
    upstreamResponse.on('end', onUpstreamEnd);
    upstreamResponse.on('error', onUpstreamResponseError);
    upstreamResponse.on('close', onUpstreamResponseClose);
  }

  /**
   * respondFast forwards the status and headers of an undici attempt's response; false when the
   * response cannot be forwarded (the attempt is then abandoned and the client got a 502).
   */
  respondFast(attempt: UndiciAttempt, statusCode: number, statusText: string, raw: Buffer[]): boolean {
    this.clearTry();
    const backend = this.backend!;
    if (this.picker.observe !== undefined) {
      this.picker.observe(backend, performance.now() - this.attemptStarted);
    }
    this.route.outcome(backend, statusCode >= 500 ? '5xx' : 'success');
    const rawHeaders = new Array<string>(raw.length);
    let hasRequestId = false;
    let chunked = false;
    let coding: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      rawHeaders[i] = name;
      rawHeaders[i + 1] = raw[i + 1]!.toString('latin1');
      if (name.length === 12 && name.toLowerCase() === 'x-request-id') hasRequestId = true;
      else if (name.length === 14 && name.toLowerCase() === 'content-length')
        attempt.bodyLength = Number(rawHeaders[i + 1]);
      else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        chunked = true;
        coding = coding === undefined ? rawHeaders[i + 1] : `${coding}, ${rawHeaders[i + 1]}`;
      }
    }
    const headers = forwardResponseHeaders(rawHeaders, this.trailersFit(statusCode, chunked));
    if (!hasRequestId) headers.push('X-Request-Id', this.forwarded.requestId);
    if (this.proxy.closing) headers.push('Connection', 'close');
    try {
      const refused = responseCodingRefusal(coding);
      if (refused !== undefined) throw new Error(refused);
      this.res.writeHead(statusCode, statusText, headers);
    } catch (err) {
      this.abandonUpstream(this.upstream!);
      this.route.telemetry.errors.other.inc();
      this.proxy.logger.warn(
        { group: this.route.name, backend: this.backend?.id, err: (err as Error).message },
        'upstream response not forwardable',
      );
      this.reply(502, this.route.replies.badGateway.other);
      return false;
    }
    return true;
  }

  /** Resumes the upstream body once the client caught up (on the response's 'drain'). */
  resume(): void {
    const upstream = this.upstream;
    if (upstream instanceof UndiciAttempt) upstream.resumeBody?.();
    else this.upstreamResponse?.resume();
  }

  upstreamBroke(err: NodeJS.ErrnoException | undefined): void {
    if (this.done) return;
    this.responseEnded(
      err ?? Object.assign(new Error('upstream response closed early'), { code: 'ECONNRESET' }),
    );
    // The client must not take a truncated body for a whole one.
    breakResponse(this.req, this.res);
  }

  responseEnded(err: NodeJS.ErrnoException | null | undefined): void {
    // A premature close is the client leaving or our own timeout; anything else broke upstream.
    if (err == null || err.code === 'ERR_STREAM_PREMATURE_CLOSE' || this.timedOut) return;
    const failure = classifyUpstreamError(err);
    this.route.telemetry.errors[failure].inc();
    this.proxy.logger.warn(
      { group: this.route.name, backend: this.backend?.id, code: err.code, err: err.message },
      'upstream response broke off',
    );
  }

  /** upstreamFailed handles an attempt that failed before any response; `perTry`: cut by `tryTimedOut`. */
  upstreamFailed(
    upstream: http.ClientRequest | UndiciAttempt,
    err: NodeJS.ErrnoException,
    perTry = false,
  ): void {
    this.clearTry();
    const failure = classifyUpstreamError(err);
    const backend = this.backend!;
    this.route.telemetry.errors[failure].inc();
    this.abandonUpstream(upstream);
    this.releaseBackend();
    this.failure = failure;
    this.failureReply = this.route.replies.failed(failure, err);
    this.tried ??= new Set();
    this.tried.add(backend);
    if (failure !== 'other') this.route.outcome(backend, 'gateway');
    const decision = routeRetryDecision(this.route, {
      method: this.req.method ?? 'GET',
      failure,
      reusedSocket: upstream instanceof UndiciAttempt ? readBefore(err) : upstream.reusedSocket,
      hasBody: this.forwarded.hasBody,
      bodyStarted: this.bodyStarted,
      bodyReplayable: this.replay !== undefined,
      idempotencyKey: this.forwarded.idempotencyKey,
      perTryTimeout: perTry,
      retries: this.retries,
    });
    this.proxy.logger.warn(
      {
        group: this.route.name,
        backend: backend.id,
        address: backend.address,
        code: err.code,
        retry: decision.retry,
        reason: decision.reason,
      },
      'upstream request failed',
    );
    if (decision.retry) {
      if (decision.reason === 'StaleKeepAlive') this.lastResort = backend;
      this.attempt();
    } else this.reply(this.failureReply.status, this.failureReply.body);
  }

  timeout(): void {
    this.timer = undefined;
    if (this.done) return;
    this.timedOut = true;
    const verdict = requestTimeoutVerdict({
      hasBody: this.forwarded.hasBody,
      bodyStarted: this.bodyStarted,
      requestComplete: this.req.complete,
      // Paused by the pipe while the backend's connection does not take more of the body.
      bodyBackpressured: this.req.readableFlowing === false,
    });
    if (verdict.status === 504) this.route.telemetry.errors.timeout.inc();
    this.proxy.logger.warn(
      {
        group: this.route.name,
        backend: this.backend?.id,
        timeoutMs: this.proxy.requestTimeout,
        reason: verdict.reason,
      },
      'request timed out',
    );
    // A backend that had the whole request and sent no response in time failed it, as a connect
    // error or reset would have: a gateway failure for outlier detection (config: "connect errors /
    // resets / timeouts"; Envoy counts its 504s, NGINX's max_fails its timeouts). Without this an
    // instance that accepts and never answers, yet passes its health check, kept its share of
    // requests for good. A client still sending its body is not the backend's doing.
    const backend = this.backend;
    if (
      backend !== undefined &&
      this.upstream !== undefined &&
      !this.res.headersSent &&
      verdict.status === 504
    )
      this.route.outcome(backend, 'gateway');
    if (this.upstream !== undefined) this.abandonUpstream(this.upstream);
    if (this.res.headersSent) breakResponse(this.req, this.res);
    else if (verdict.status === 408) this.reply(408, this.route.replies.clientTimeout);
    else this.reply(504, this.route.replies.timeout);
  }

  /** Runs once, when the client response closes: finished, failed or abandoned by the client. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.clearTry();
    const { res, route } = this;
    const complete = res.writableFinished;
    if (!complete && this.upstream !== undefined) this.abandonUpstream(this.upstream);
    this.releaseBackend();
    route.inFlight--;
    route.telemetry.inFlight.dec();
    route.telemetry.requests[complete ? statusClass(res.statusCode) : 'error'].inc();
    route.telemetry.duration.observe((performance.now() - this.started) / 1000);
    this.proxy.exchangeEnded();
  }

  abandonUpstream(upstream: http.ClientRequest | UndiciAttempt): void {
    this.clearTry();
    this.upstream = undefined;
    if (upstream instanceof UndiciAttempt) {
      upstream.abandon();
      return;
    }
    if (this.bodyStarted) this.req.unpipe(upstream);
    // A response that already ended leaves its socket to the agent; destroy() is then a no-op.
    upstream.destroy();
  }

  releaseBackend(): void {
    const backend = this.backend;
    if (backend === undefined) return;
    this.backend = undefined;
    this.route.pool.release(backend);
    if (backend.removed) this.proxy.retire(backend);
  }

  reply(status: number, body: Buffer, close = false): void {
    const { req, res } = this;
    if (res.headersSent) {
      breakResponse(req, res);
      return;
    }
    // Read and drop what is left of the body so the client gets the answer instead of a reset.
    if (this.bodyStarted && !req.complete) req.resume();
    // A body not read to the end (a 504 while the client still sends, a 413): the connection
    // cannot carry another request until the rest arrives, and node:http waited for it, so a
    // stalled client's connection lingered ~6.3 s after its 504. Like NGINX, say Connection: close
    // and close once the answer is written (node:http ends the socket after it).
    const unread = !req.complete;
    // So a client can quote the id of a request the balancer itself answered.
    if (this.forwarded !== undefined) res.setHeader('X-Request-Id', this.forwarded.requestId);
    sendJson(res, status, body, close || unread || this.proxy.closing);
  }
}

/**
 * UndiciAttempt is one attempt of a bodiless GET or HEAD through the backend's undici pool, which
 * costs markedly less CPU per request than node:http's client (no ClientRequest, IncomingMessage
 * or stream machinery). Requests with a body keep node:http: their body streams from the client as
 * it arrives, and the retry rules need to know whether any of it was sent. Callbacks of an attempt
 * the exchange moved on from (retried, timed out, client gone) are ignored.
 */
class UndiciAttempt implements Dispatcher.DispatchHandler {
  readonly exchange: Exchange;
  /** Response headers arrived: failures from now on break the response, they are not retried. */
  responded = false;
  /** Resumes a body paused for backpressure. */
  resumeBody: (() => void) | undefined;
  /** The response's Content-Length, when it has one. */
  bodyLength = -1;
  /** The response's status (204 and 304 have no body, whatever their Content-Length says). */
  statusCode = 0;
  #wrote = false;
  #ended = false;
  #abort: ((err?: Error) => void) | undefined;
  #abandoned = false;

  constructor(exchange: Exchange) {
    this.exchange = exchange;
  }

  /** abandon aborts the attempt, now or as soon as undici hands it a connection. */
  abandon(): void {
    this.#abandoned = true;
    this.#abort?.(abandonedError());
  }

  #current(): boolean {
    return !this.#abandoned && this.exchange.upstream === this && !this.exchange.done;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#abandoned) abort(abandonedError());
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx (100 Continue, 103 Early Hints) are not forwarded; the final response follows.
    if (statusCode < 200) return true;
    if (!this.#current()) return false;
    this.responded = true;
    this.statusCode = statusCode;
    this.resumeBody = resume;
    return this.exchange.respondFast(this, statusCode, statusText, raw);
  }

  onData(chunk: Buffer): boolean {
    if (!this.#current()) return false;
    const res = this.exchange.res;
    // The whole body in one chunk (most small responses): one end() instead of write() + end().
    if (!this.#wrote && chunk.length === this.bodyLength) {
      this.#ended = true;
      res.end(chunk);
      return true;
    }
    this.#wrote = true;
    if (res.write(chunk)) return true;
    res.once('drain', onResponseDrain);
    return false;
  }

  onComplete(trailers: Buffer[] | string[] | null): void {
    if (this.#ended || !this.#current()) return;
    const raw = trailers === null ? [] : trailers.map((field) => field.toString('latin1'));
    this.exchange.endResponse(raw);
  }

  onError(err: Error): void {
    if (!this.#current()) return;
    const exchange = this.exchange;
    // undici checks a Content-Length against the body read for every response but a HEAD's, so a
    // 304 carrying the length of the representation it stands for (RFC 9110 §8.6 allows it;
    // ASP.NET sends it) failed as a mismatch and the client's connection was cut. No body was
    // due: the response is whole. (undici has closed that backend connection; nothing on it is lost.)
    if (
      this.responded &&
      (this.statusCode === 304 || this.statusCode === 204) &&
      (err as NodeJS.ErrnoException).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
    ) {
      exchange.endResponse([]);
      return;
    }
    // undici validates header names and values more strictly than node:http's server parsed them.
    if ((err as NodeJS.ErrnoException).code === 'UND_ERR_INVALID_ARG' && !this.responded)
      exchange.unforwardable(err);
    else if (this.responded) exchange.upstreamBroke(err as NodeJS.ErrnoException);
    else exchange.upstreamFailed(this, err as NodeJS.ErrnoException);
  }
}

/**
 * readBefore says whether an undici attempt's connection had read anything before it failed, so
 * it was a reused keep-alive one: undici's 'other side closed' (`UND_ERR_SOCKET`) carries the
 * socket's byte counts; a plain reset does not say, and counts as a fresh connection.
 */
function readBefore(err: Error): boolean {
  const bytesRead = (err as { socket?: { bytesRead?: unknown } }).socket?.bytesRead;
  return typeof bytesRead === 'number' && bytesRead > 0;
}

/**
 * tryTimeoutError is the error a try cut by `per_try_timeout` fails with: `ETIMEDOUT` on an open
 * connection, so `classifyUpstreamError` takes it for a `timeout` (counted in
 * `scaleplane_upstream_errors_total{kind="timeout"}`, answered 504 when nothing is left to try).
 */
export function tryTimeoutError(ms: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`no response headers within per_try_timeout (${ms} ms)`), {
    code: 'ETIMEDOUT',
  });
}

function abandonedError(): Error {
  return Object.assign(new Error('request abandoned by the balancer'), { code: 'UND_ERR_ABORTED' });
}

function fastMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD';
}

function ignore(): void {}

function onUpstreamData(this: Tagged<http.IncomingMessage>, chunk: Buffer): void {
  const exchange = this[kExchange];
  if (!exchange.res.write(chunk)) {
    this.pause();
    exchange.res.once('drain', onResponseDrain);
  }
}

function onUpstreamEnd(this: Tagged<http.IncomingMessage>): void {
  this[kExchange].endResponse(this.rawTrailers);
}

function onUpstreamResponseError(this: Tagged<http.IncomingMessage>, err: NodeJS.ErrnoException): void {
  this[kExchange].upstreamBroke(err);
}

function onUpstreamResponseClose(this: Tagged<http.IncomingMessage>): void {
  if (!this.complete) this[kExchange].upstreamBroke(undefined);
}

// A listener shared by all responses rather than a closure per exchange.
function onResponseDrain(this: Tagged<http.ServerResponse>): void {
  this[kExchange].resume();
}

function onResponseClose(this: Tagged<http.ServerResponse>): void {
  this[kExchange].finish();
}

function onExchangeTimeout(exchange: Exchange): void {
  exchange.timeout();
}

function onTryTimeout(exchange: Exchange): void {
  exchange.tryVerdict = setImmediate(onTryVerdict, exchange);
}

function onTryVerdict(exchange: Exchange): void {
  exchange.tryTimedOut();
}

function onUpstreamSocket(this: Tagged<http.ClientRequest>, socket: Socket): void {
  const exchange = this[kExchange];
  readOnAfterWriteReset(socket as GuardedSocket, this);
  // The body waits for the connection: if it cannot be made, nothing was consumed and any method
  // may be retried elsewhere.
  if (socket.connecting) socket.once('connect', () => exchange.sendBody(this));
  else exchange.sendBody(this);
}

const kBodyRequest = Symbol('scaleplane.bodyRequest');

type GuardedSocket = Socket & { [kBodyRequest]?: http.ClientRequest };

// Write errors of a connection the backend reset: the backend closed it, so what we send is lost.
const WRITE_RESET_CODES: ReadonlySet<string> = new Set(['EPIPE', 'ECONNRESET']);

/**
 * readOnAfterWriteReset keeps an upstream socket reading when sending the request body fails
 * because the backend closed the connection. A backend that answers an upload early (a 401 or 413
 * decided from the headers) and closes, as node:http and most servers do, makes our next body write
 * fail while its answer still waits, unread, in the socket; node:http's client destroyed the socket
 * on that write error, so the answer was never read and the client got a 502 (NGINX relays it). The
 * failed write is dropped instead (those bytes could not have been read by anyone) and the request
 * marked not to reuse its connection; the read side then yields the answer, or the EOF or reset
 * that fails the request as before.
 */
function readOnAfterWriteReset(socket: GuardedSocket, request: http.ClientRequest): void {
  const guarded = kBodyRequest in socket;
  socket[kBodyRequest] = request;
  if (guarded) return;
  const write = socket._write;
  const writev = socket._writev;
  socket._write = function (this: GuardedSocket, chunk, encoding, callback) {
    write.call(this, chunk, encoding, writeResetGuard(this, callback));
  };
  if (writev !== undefined && writev !== null)
    socket._writev = function (this: GuardedSocket, chunks, callback) {
      writev.call(this, chunks, writeResetGuard(this, callback));
    };
}

function writeResetGuard(
  socket: GuardedSocket,
  callback: (err?: Error | null) => void,
): (err?: Error | null) => void {
  return (err) => {
    const request = socket[kBodyRequest];
    const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
    if (code !== undefined && WRITE_RESET_CODES.has(code) && request !== undefined && !request.destroyed) {
      request.shouldKeepAlive = false;
      callback();
      return;
    }
    callback(err);
  };
}

function onUpstreamResponse(this: Tagged<http.ClientRequest>, response: http.IncomingMessage): void {
  const exchange = this[kExchange];
  if (exchange.upstream !== this || exchange.done) {
    response.destroy();
    return;
  }
  exchange.respond(response);
}

function onUpstreamError(this: Tagged<http.ClientRequest>, err: NodeJS.ErrnoException): void {
  const exchange = this[kExchange];
  // Errors of an abandoned attempt, or after the response started (the pipeline owns those), are
  // already accounted for.
  if (exchange.upstream !== this || exchange.done || exchange.upstreamResponse !== undefined) return;
  exchange.upstreamFailed(this, err);
}

/** statusClass is the `code` label of a response status. */
export function statusClass(status: number): StatusClass {
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status < 500) return '4xx';
  return '5xx';
}

/** hashKeyOf reads a request's consistent-hash key; a missing header or cookie falls back to the client IP. */
export function hashKeyOf(req: http.IncomingMessage, source: HashKeySource): string {
  if (source.kind === 'header') {
    const value = req.headers[source.name];
    if (value !== undefined) return Array.isArray(value) ? value.join(',') : value;
  } else if (source.kind === 'cookie') {
    const value = cookieValue(req.headers.cookie, source.name);
    if (value !== undefined) return value;
  }
  return req.socket.remoteAddress ?? '';
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function localHost(socket: Socket): string {
  const host = socket.localAddress ?? 'localhost';
  return host.includes(':') ? `[${host}]:${socket.localPort}` : `${host}:${socket.localPort}`;
}

function destroyIdleSockets(agent: http.Agent, member: PoolMember): void {
  const idle = agent.freeSockets[agent.getName({ host: member.host, port: member.port })];
  if (idle === undefined) return;
  for (const socket of [...idle]) socket.destroy();
}
