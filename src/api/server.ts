import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, isIP } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { Registry } from 'prom-client';
import { type CachePurger, purgeSelector } from '../balancer/index.js';
import {
  ConfigError,
  type HostPort,
  parseSize,
  readTls,
  sameTls,
  type TlsConfig,
  type TlsMaterial,
  unknownKeyMessage,
} from '../config/index.js';
import {
  type Controller,
  ControllerError,
  InProgressError,
  LimitExceededError,
  NotLeaderError,
  NotStoredError,
  OutOfRangeError,
  StartingError,
  UnknownGroupError,
} from '../controller/index.js';
import { type ClientErrorListener, LogThrottle, onClientError } from '../log/index.js';
import type { InstanceSize } from '../providers/index.js';
import {
  type ApiToken,
  AuthConfigError,
  createAuthenticator,
  FORWARDED_FOR_HEADER,
  isLoopback,
  isLoopbackHostHeader,
  PROXY_AUTHORIZATION_HEADER,
  type Principal,
  streamEndReason,
} from './auth.js';
import { isDashboardPath, serveDashboard } from './dashboard.js';
import { duplicateName } from './json-keys.js';
import { buildOpenApiDocument } from './openapi.js';
import { RateLimiter } from './rate-limit.js';
import {
  CachePurgeRequest,
  describeZodError,
  fieldsOf,
  ResizeGroupRequest,
  ScaleGroupRequest,
} from './schemas.js';
import { LiveStream } from './stream.js';

/** MAX_BODY_BYTES bounds a control request body; the API's bodies are tiny. */
export const MAX_BODY_BYTES = 64 * 1024;

/** ApiServerOptions wires the control API. */
export interface ApiServerOptions {
  listen: HostPort;
  /** Serve HTTPS with this certificate and key (PEM files); absent: plain HTTP. */
  tls?: TlsConfig;
  /** One admin token (what `SCALEPLANE_API_KEY` gives). */
  token?: string;
  /** Named tokens with roles (from `api.token_file`). */
  tokens?: readonly ApiToken[];
  /** Failed authentications per client address per minute before 429. @defaultValue 10 */
  authFailuresPerMinute?: number;
  /** Scale/resize calls per token per minute before 429. @defaultValue 60 */
  scaleRequestsPerMinute?: number;
  /** Serve `/metrics` without a token. @defaultValue false */
  publicMetrics?: boolean;
  /** Live streams (`/api/scalability/stream`) one token may hold open at once before 429. @defaultValue 10 */
  maxStreamsPerToken?: number;
  /** Live streams open at once over all tokens before 429. @defaultValue 100 */
  maxStreams?: number;
  /**
   * Unsent bytes one live stream may hold before it is closed as a slow consumer (the client
   * reconnects for a fresh snapshot). @defaultValue STREAM_BUFFER_BYTES (1 MiB)
   */
  streamBufferBytes?: number;
  /**
   * At most one "API request refused" log line per client address and status per this many ms;
   * the next line counts the ones left out. The same interval throttles the lines of requests the
   * HTTP parser refuses and of failed TLS handshakes, per cause. @defaultValue 10000
   */
  refusalLogIntervalMs?: number;
  /**
   * Longest wait for a request's headers, and over TLS for the handshake before them (slowloris),
   * ms. @defaultValue 10000
   */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept, ms. @defaultValue 5000 (Node's) */
  keepAliveTimeoutMs?: number;
  /**
   * How long scale-group and resize-group wait for the state store to confirm the change before
   * answering 503 (`SCALEPLANE_NOT_STORED`), ms. @defaultValue DEFAULT_STORE_TIMEOUT_MS (5000)
   */
  storeTimeoutMs?: number;
  controller: Controller;
  /** Answers `POST /api/scalability/cache/purge`; absent: that route says no cache is configured. */
  cachePurger?: CachePurger;
  registry: Registry;
  logger?: { warn(obj: object, msg?: string): void };
  /**
   * Re-reads and applies the config file (`POST /api/scalability/reload`, admin); `by` is the
   * token's name. A ConfigError or AuthConfigError becomes a 400 naming the problem. Absent: 501.
   */
  reload?: (by: string) => Promise<object>;
}

/** ApiAuthOptions are the parts of ApiServerOptions a config reload may change. */
export type ApiAuthOptions = Pick<
  ApiServerOptions,
  | 'token'
  | 'tokens'
  | 'authFailuresPerMinute'
  | 'scaleRequestsPerMinute'
  | 'publicMetrics'
  | 'maxStreamsPerToken'
  | 'maxStreams'
>;

/** DEFAULT_MAX_STREAMS_PER_TOKEN is `api.max_streams_per_token`'s default: a few dashboard tabs. */
export const DEFAULT_MAX_STREAMS_PER_TOKEN = 10;
/**
 * DEFAULT_STORE_TIMEOUT_MS bounds the wait for a change's state store write: one write takes
 * milliseconds; a store that has not answered in 5 s is unavailable for the caller's purpose.
 */
export const DEFAULT_STORE_TIMEOUT_MS = 5_000;
/** DEFAULT_MAX_STREAMS is `api.max_streams`'s default. */
export const DEFAULT_MAX_STREAMS = 100;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * ApiServer is the control API of DESIGN.md: JSON in and out, bearer token on every
 * `/api/` route and on `/metrics` (unless `publicMetrics`), `/healthz` open for probes.
 */
export class ApiServer {
  #options: ApiServerOptions;
  readonly #server: Server;
  #authenticate!: (header: string | undefined) => Principal | undefined;
  #authFailures!: RateLimiter;
  #scaleCalls!: RateLimiter;
  #closed: Promise<void> | undefined;
  #openapi: object | undefined;
  #stream: LiveStream | undefined;
  /** Open live streams per token name; a name leaves the map when its last stream closes. */
  readonly #streams = new Map<string, number>();
  #streamsOpen = 0;
  /**
   * Open live streams with the Authorization header each came with and who it authenticated as
   * (what its hello told the client), re-checked when tokens change.
   */
  readonly #streamAuthorizations = new Map<
    ServerResponse,
    { authorization: string | undefined; principal: Principal }
  >();
  /** Open live streams by token name and the client's stream id (STREAM_ID_HEADER), when it sent one. */
  readonly #streamsById = new Map<string, ServerResponse>();
  /** How each open live stream gives its slot back (once). */
  readonly #streamRelease = new Map<ServerResponse, () => void>();
  readonly #refusalLog: LogThrottle;
  /** Logs what the HTTP parser or TLS layer refused; its counts are written at close. */
  readonly #clientErrors: ClientErrorListener;
  /** Writes the counts of refusals left out of the log once their address has gone quiet. */
  readonly #refusalSweep: NodeJS.Timeout | undefined;
  /** Responses not yet finished, so close() can end their keep-alive connections after them. */
  readonly #inFlight = new Set<ServerResponse>();
  /** The certificate and key served now (with `tls`), to tell a rotated pair on reloadTls. */
  #tlsMaterial: TlsMaterial | undefined;

  constructor(options: ApiServerOptions) {
    this.#options = options;
    this.setAuth(options);
    this.#refusalLog = new LogThrottle(
      options.refusalLogIntervalMs === undefined ? {} : { intervalMs: options.refusalLogIntervalMs },
    );
    const sweepMs = options.refusalLogIntervalMs ?? 10_000;
    if (sweepMs > 0) {
      this.#refusalSweep = setInterval(() => this.#logLeftOut(performance.now()), sweepMs);
      this.#refusalSweep.unref();
    }
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      // Closing: answer, then close the connection (Connection: close), so it does not hold close().
      if (this.#closed !== undefined) res.shouldKeepAlive = false;
      else {
        this.#inFlight.add(res);
        res.once('close', () => this.#inFlight.delete(res));
      }
      this.#handle(req, res).catch((err: unknown) => {
        try {
          this.#fail(req, res, err);
        } catch {
          res.destroy(); // never an unhandled rejection: that would end the process
        }
      });
    };
    // Slow clients (slowloris) are cut: 10 s for the headers, 30 s for the whole request, checked
    // every second (Node's default check runs every 30 s).
    const limits = {
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: 30_000,
      connectionsCheckingInterval: 1_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    };
    this.#tlsMaterial = options.tls === undefined ? undefined : readTls(options.tls);
    this.#server = (
      this.#tlsMaterial === undefined
        ? createServer(limits, handler)
        : // The handshake too: headersTimeout starts after it, and node:tls waits 120 s for a
          // ClientHello, so a client that connected and sent nothing held its socket 12 times longer.
          createHttpsServer(
            { ...limits, handshakeTimeout: limits.headersTimeout, ...this.#tlsMaterial },
            handler,
          )
    ) as Server;
    this.#clientErrors = onClientError(
      options.logger ?? { warn() {} },
      'api',
      options.refusalLogIntervalMs === undefined ? {} : { intervalMs: options.refusalLogIntervalMs },
    );
    this.#server.on('clientError', this.#clientErrors);
  }

  /**
   * setAuth replaces the tokens, rate limits and metrics access (a config reload). Throws TypeError,
   * changing nothing, when no token would be left. Rate limits start afresh when their rate changes.
   */
  setAuth(auth: ApiAuthOptions): void {
    const tokens = [
      ...(auth.token === undefined ? [] : [{ name: 'api-key', role: 'admin' as const, token: auth.token }]),
      ...(auth.tokens ?? []),
    ];
    if (tokens.length === 0) throw new TypeError('ApiServer needs at least one token');
    this.#authenticate = createAuthenticator(tokens);
    this.#endStaleStreams();
    const failures = auth.authFailuresPerMinute ?? 10;
    const calls = auth.scaleRequestsPerMinute ?? 60;
    if (this.#authFailures === undefined || failures !== (this.#options.authFailuresPerMinute ?? 10))
      this.#authFailures = new RateLimiter({ perMinute: failures });
    if (this.#scaleCalls === undefined || calls !== (this.#options.scaleRequestsPerMinute ?? 60))
      this.#scaleCalls = new RateLimiter({ perMinute: calls });
    const { token: _token, tokens: _tokens, ...rest } = this.#options;
    this.#options = {
      ...rest,
      ...(auth.token !== undefined && { token: auth.token }),
      ...(auth.tokens !== undefined && { tokens: auth.tokens }),
      authFailuresPerMinute: failures,
      scaleRequestsPerMinute: calls,
      publicMetrics: auth.publicMetrics ?? false,
      maxStreamsPerToken: auth.maxStreamsPerToken ?? DEFAULT_MAX_STREAMS_PER_TOKEN,
      maxStreams: auth.maxStreams ?? DEFAULT_MAX_STREAMS,
    };
  }

  /**
   * reloadTls re-reads the `tls` certificate and key files and, when they changed (a certificate
   * renewed in place: cert-manager, certbot), serves the new pair to every new connection; open ones
   * keep the pair they shook hands with. Returns whether the pair changed (false without `tls`).
   * Throws, changing nothing, when a file cannot be read.
   */
  reloadTls(): boolean {
    if (this.#options.tls === undefined || this.#tlsMaterial === undefined) return false;
    const next = readTls(this.#options.tls);
    if (sameTls(next, this.#tlsMaterial)) return false;
    (this.#server as unknown as TlsServer).setSecureContext(next);
    this.#tlsMaterial = next;
    return true;
  }

  /** listen binds the server and returns the bound address (port 0 → a free port). */
  async listen(): Promise<HostPort> {
    this.#server.listen(this.#options.listen.port, this.#options.listen.host);
    this.#liveStream().start();
    await once(this.#server, 'listening');
    const address = this.#server.address() as AddressInfo;
    return { host: this.#options.listen.host, port: address.port };
  }

  /** close stops the server; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      // A keep-alive connection whose response was in flight stays open after that response ends,
      // until the client or the keep-alive timeout closes it: close() waited ~5 s for each, and a
      // dashboard's EventSource could reconnect over one. Each now closes once its response is done
      // (a live stream's is done just below).
      for (const res of this.#inFlight) {
        if (!res.headersSent) res.shouldKeepAlive = false;
        else res.once('finish', () => res.socket?.end());
      }
      this.#inFlight.clear();
      clearInterval(this.#refusalSweep);
      this.#logLeftOut(Number.POSITIVE_INFINITY);
      this.#clientErrors.flush(Number.POSITIVE_INFINITY);
      this.#stream?.close();
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    return this.#closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req.url);
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      allow(method, ['GET', 'HEAD']);
      if (!this.#options.publicMetrics) this.#authorize(req);
      else if (isLoopback(this.#options.listen.host) && !isLoopbackHostHeader(req.headers.host)) {
        // DNS rebinding: a page on another site whose name now resolves to 127.0.0.1 sends its own
        // name as Host. Only tokenless answers need this; a token never reaches such a page.
        if (req.headers.authorization === undefined)
          throw new HttpError(
            421,
            `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name; public /metrics on a loopback API answers localhost, 127.x.x.x and [::1] only (or send a token)`,
          );
        this.#authorize(req);
      }
      const body = await this.#options.registry.metrics();
      res.writeHead(200, {
        'content-type': this.#options.registry.contentType,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/api/openapi.json') {
      allow(method, ['GET', 'HEAD']);
      this.#openapi ??= buildOpenApiDocument();
      return send(res, 200, this.#openapi);
    }
    if (
      (method === 'GET' || method === 'HEAD') &&
      isDashboardPath(path) &&
      (await serveDashboard(req, res, path))
    )
      return;
    if (!path.startsWith('/api/')) throw new HttpError(404, `no route for ${path}`);
    const principal = this.#authorize(req);
    // Reads are for any token; everything that changes state wants an admin token.
    if (method !== 'GET' && method !== 'HEAD' && principal.role !== 'admin') {
      throw new HttpError(403, `token "${principal.name}" has role ${principal.role}; this needs admin`);
    }

    const controller = this.#options.controller;
    if (path === '/api/scalability/stream') {
      allow(method, ['GET', 'HEAD']);
      // Before a slot is taken: `grup=web` streamed every group, as if the filter held.
      checkQuery(url, STREAM_QUERY);
      // HEAD gets the stream's head and no events: nothing held open, so no slot taken.
      if (method === 'GET')
        this.#takeStreamSlot(
          principal,
          req.headers.authorization,
          res,
          streamIdOf(req.headers[STREAM_ID_HEADER]),
        );
      return this.#liveStream().handle(req, res, url, principal);
    }
    if (path === '/api/scalability/groups') {
      allow(method, ['GET', 'HEAD']);
      await controller.readAutoscalers();
      return send(res, 200, { groups: controller.groupNames().map((name) => controller.status(name)) });
    }
    const groupMatch = /^\/api\/scalability\/groups\/([^/]+)$/.exec(path);
    if (groupMatch) {
      allow(method, ['GET', 'HEAD']);
      await controller.readAutoscalers();
      return send(res, 200, controller.status(decodePathSegment(groupMatch[1]!)));
    }
    if (path === '/api/scalability/events') {
      allow(method, ['GET', 'HEAD']);
      checkQuery(url, EVENTS_QUERY);
      const group = url.searchParams.get('group') ?? undefined;
      // `group=` (a blank filter field) matched no entry and answered an empty journal, as `limit=` did.
      if (group === '') throw new HttpError(400, 'group: must not be empty');
      const since = integerParam(url, 'since');
      const limit = integerParam(url, 'limit');
      // A seq this journal never gave: the poller paged a journal that is gone (a restart without a
      // state store numbers from 1 again). Answered with an empty page, as before, the poller saw
      // nothing new until the new journal's seqs passed its own, hours or days of decisions later.
      // As etcd refuses a future revision and Kubernetes a too-large resourceVersion, it is refused.
      // A standby's are the leader's decisions, read from the state store (see Controller.eventJournal).
      const journal = await controller.eventJournal();
      const newest = journal.newestSeq;
      if (since !== undefined && since > newest)
        throw new HttpError(
          410,
          `since: ${since} is past the newest entry of this journal (seq ${newest}): it numbers afresh since a restart without a state store (or it is another controller's); read it again without since`,
          {},
          'SCALEPLANE_JOURNAL_RESTARTED',
        );
      return send(res, 200, {
        events: journal.entries({
          ...(group !== undefined && { group }),
          ...(since !== undefined && { since }),
          ...(limit !== undefined && { limit }),
        }),
      });
    }
    if (path === '/api/scalability/scale-group') {
      allow(method, ['POST']);
      this.#limitChanges(principal);
      const parsed = ScaleGroupRequest.safeParse(await readJson(req));
      if (!parsed.success)
        throw new HttpError(400, describeZodError(parsed.error, fieldsOf(ScaleGroupRequest)));
      const { group, action, instances } = parsed.data;
      if (action === 'set' && instances === undefined)
        throw new HttpError(400, 'instances: required for action "set"');
      if (action !== 'set' && instances === 0)
        throw new HttpError(400, `instances: must be >= 1 for "${action}"`);
      const { previous, desired, stored } = controller.scale(group, action, instances ?? 1, principal.name);
      // Answered only once the state store holds the new count (with one): answered before, a
      // leader that died (or was deposed) before the write lost a change it had said was accepted.
      await stored.confirm(this.#storeTimeout());
      return send(res, 200, { group, previous, desired });
    }
    if (path === '/api/scalability/reload') {
      allow(method, ['POST']);
      if (!this.#options.reload)
        throw new HttpError(501, 'this API was started without a config file to reload');
      return send(res, 200, await this.#options.reload(principal.name));
    }
    if (path === '/api/scalability/resize-group') {
      allow(method, ['POST']);
      this.#limitChanges(principal);
      const parsed = ResizeGroupRequest.safeParse(await readJson(req));
      if (!parsed.success)
        throw new HttpError(400, describeZodError(parsed.error, fieldsOf(ResizeGroupRequest)));
      const { group, cpu, memory, size } = parsed.data;
      const target = resizeTarget(cpu, memory, size);
      if (typeof target === 'string') throw new HttpError(400, target);
      const provider = controller.group(group).provider;
      if (!provider.resize) throw new HttpError(501, `the ${provider.kind} provider cannot resize`);
      const unsupported = unsupportedSize(provider, target);
      if (unsupported !== undefined) throw new HttpError(400, unsupported);
      // E.g. no cgroups this process may create: every replacement would fail to start.
      const refusal = provider.resizeRefusal?.(target);
      if (refusal !== undefined) throw new HttpError(400, refusal);
      let started: ReturnType<Controller['resize']>;
      try {
        started = controller.resize(group, target, principal.name);
      } catch (err) {
        if ((err as { code?: string }).code === 'INVALID_ARGUMENT')
          throw new HttpError(400, (err as Error).message);
        throw err;
      }
      // Answered once the resize outlives this controller: the state store holds it (and a local
      // group's size in force), and Kubernetes or AWS took the size (see Controller.resize).
      // Answered before, a leader that died before that write lost a resize it had accepted.
      await started.stored.confirm(this.#storeTimeout());
      // The rolling replacement runs on; GET /groups/:name shows each instance's size as it goes.
      return send(res, 202, {
        group,
        size: target,
        instances: started.desired,
        status: 'rolling',
        // A resize nothing keeps (a local group without controller.state) is lost on restart.
        ...(started.notKept !== undefined && { warning: started.notKept }),
      });
    }
    if (path === '/api/scalability/cache/purge') {
      allow(method, ['POST']);
      this.#limitChanges(principal);
      return this.#purgeCache(req, res, principal);
    }
    throw new HttpError(404, `no route for ${path}`);
  }

  /** purgeCache purges the HTTP caches (and Cloudflare) and journals who asked for what. */
  async #purgeCache(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const purger = this.#options.cachePurger;
    if (purger === undefined)
      throw new HttpError(
        404,
        'no HTTP cache configured (balancer.cache, routes[].cache or balancer.cloudflare)',
      );
    const parsed = CachePurgeRequest.safeParse(await readJson(req));
    if (!parsed.success)
      throw new HttpError(400, describeZodError(parsed.error, fieldsOf(CachePurgeRequest)));
    const selector = purgeSelector(parsed.data);
    if (typeof selector === 'string') throw new HttpError(400, selector);
    const outcome = await purger.purge(selector, parsed.data);
    const { urls, prefix, tags } = parsed.data;
    const what = [
      urls === undefined ? '' : `${urls.length} URL(s)`,
      prefix === undefined ? '' : `prefix ${prefix}`,
      tags === undefined ? '' : `tags ${tags.join(', ')}`,
    ].filter((part) => part !== '');
    const edge =
      outcome.cloudflare === undefined
        ? ''
        : outcome.cloudflare.ok
          ? '; Cloudflare purged'
          : '; Cloudflare purge FAILED';
    this.#options.controller.journal.append(
      {
        // Not a group's decision: '*' is no valid group name, so no group's history picks it up.
        group: '*',
        source: 'api',
        before: 0,
        after: 0,
        reasons: ['CachePurge'],
        message: `cache purge of ${what.join(', ')} by ${principal.name}: ${outcome.purged} key(s) removed${edge}`,
        inputs: {
          by: principal.name,
          ...parsed.data,
          purged: outcome.purged,
          cloudflare: outcome.cloudflare ?? null,
        },
      },
      Date.now(),
    );
    if (outcome.cloudflare !== undefined && !outcome.cloudflare.ok)
      throw new HttpError(
        502,
        `purged ${outcome.purged} key(s) here, but the Cloudflare purge failed: ${outcome.cloudflare.error}`,
      );
    return send(res, 200, outcome);
  }

  /** authorize returns who sent the request, or throws 401 (counting the failure) or 429. */
  #authorize(req: IncomingMessage): Principal {
    const client = this.#failureKey(req);
    const wait = this.#authFailures.blocked(client, Date.now());
    if (wait > 0)
      throw new HttpError(429, 'too many failed authentications; retry later', {
        'retry-after': String(wait),
      });
    const principal = this.#authenticate(req.headers.authorization);
    if (!principal) {
      // Only a presented token is a guess. A request without one is what any web page can make the
      // operator's browser send (a no-cors fetch, a form, the CORS preflight of a fetch that wants
      // to add a token): counted, 10 such requests from a page the operator had open refused the
      // CLI, the dashboard and the MCP server on 127.0.0.1 with 429, for as long as the page went on.
      if (req.headers.authorization !== undefined) this.#authFailures.take(client, Date.now());
      throw new HttpError(401, 'missing or invalid bearer token', {
        'www-authenticate': 'Bearer realm="scaleplane"',
      });
    }
    return principal;
  }

  /**
   * failureKey is what failed authentications are counted under: the client's address, or, for a
   * request an admin-token proxy sends on a client's behalf, that proxy and client. Before, every
   * caller of `scaleplane mcp --http` was 127.0.0.1: 11 wrong tokens from one MCP client, and the
   * operator's CLI (127.0.0.1 as well) got 429 with the admin token. A bad proxy token is counted
   * against the proxy's address, as any wrong token is.
   */
  #failureKey(req: IncomingMessage): string {
    const address = this.#clientAddress(req);
    const forwarded = req.headers[FORWARDED_FOR_HEADER];
    const proxyAuthorization = req.headers[PROXY_AUTHORIZATION_HEADER];
    if (forwarded === undefined && proxyAuthorization === undefined) return address;
    const wait = this.#authFailures.blocked(address, Date.now());
    if (wait > 0)
      throw new HttpError(429, 'too many failed authentications; retry later', {
        'retry-after': String(wait),
      });
    const proxy = this.#authenticate(typeof proxyAuthorization === 'string' ? proxyAuthorization : undefined);
    if (proxy?.role !== 'admin') {
      this.#authFailures.take(address, Date.now());
      throw new HttpError(
        401,
        `${PROXY_AUTHORIZATION_HEADER}: ${proxy ? `token "${proxy.name}" has role ${proxy.role}; a proxy needs admin` : 'missing or invalid bearer token'}`,
      );
    }
    if (typeof forwarded !== 'string' || isIP(forwarded) === 0)
      throw new HttpError(
        400,
        `${FORWARDED_FOR_HEADER}: expected the client's IP address, got ${JSON.stringify(forwarded ?? '')}`,
      );
    return `${forwarded} via ${proxy.name}`;
  }

  /**
   * clientAddress is the key of a client's failed authentications: its address, and for a request
   * to a loopback API whose Host is not a loopback name, that address set apart. Such a request is
   * what a DNS-rebinding page sends (its own name, resolved to 127.0.0.1): it can present tokens,
   * and its wrong guesses refused the operator's CLI and dashboard on 127.0.0.1 (429) as well.
   * All foreign names share the one key, so a page cannot buy fresh guesses with fresh names.
   */
  #clientAddress(req: IncomingMessage): string {
    const address = req.socket?.remoteAddress ?? 'unknown';
    if (!isLoopback(this.#options.listen.host) || isLoopbackHostHeader(req.headers.host)) return address;
    return `${address} (Host not a loopback name)`;
  }

  /** storeTimeout is how long a change waits for the state store to confirm it before a 503. */
  #storeTimeout(): number {
    return this.#options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  }

  /** limitChanges spends one of the principal's scale/resize calls or refuses with 429. */
  #limitChanges(principal: Principal): void {
    const wait = this.#scaleCalls.take(principal.name, Date.now());
    if (wait > 0) {
      throw new HttpError(429, `too many scaling calls by "${principal.name}"; retry later`, {
        'retry-after': String(wait),
      });
    }
  }

  /**
   * takeStreamSlot counts one more live stream of the principal until `res` closes, or refuses with
   * 429 naming the limit: without a cap, one read token could hold any number of connections (each
   * with its timers and listeners).
   */
  #takeStreamSlot(
    principal: Principal,
    authorization: string | undefined,
    res: ServerResponse,
    streamId: string | undefined,
  ): void {
    // The same page reconnecting (its client found the stream stalled): the old connection is dead
    // to it but may look alive here for tens of minutes, until TCP gives up, holding its slot; a
    // page on a flaky link ran out of slots (429) after max_streams_per_token stalls.
    const key = streamId === undefined ? undefined : `${principal.name}\n${streamId}`;
    const previous = key === undefined ? undefined : this.#streamsById.get(key);
    if (previous) {
      this.#streamRelease.get(previous)?.();
      previous.destroy();
      this.#options.logger?.warn(
        { remote: previous.socket?.remoteAddress, token: principal.name },
        'live stream replaced by its client reconnecting (it found the stream stalled); the old connection is closed',
      );
    }
    const perToken = this.#options.maxStreamsPerToken ?? DEFAULT_MAX_STREAMS_PER_TOKEN;
    const total = this.#options.maxStreams ?? DEFAULT_MAX_STREAMS;
    const mine = this.#streams.get(principal.name) ?? 0;
    if (mine >= perToken)
      throw new HttpError(
        429,
        `too many live streams for token "${principal.name}": ${mine} open, api.max_streams_per_token is ${perToken}; close one and retry`,
      );
    if (this.#streamsOpen >= total)
      throw new HttpError(
        429,
        `too many live streams: ${this.#streamsOpen} open, api.max_streams is ${total}; retry later`,
      );
    this.#streams.set(principal.name, mine + 1);
    this.#streamsOpen += 1;
    this.#streamAuthorizations.set(res, { authorization, principal });
    if (key !== undefined) this.#streamsById.set(key, res);
    // Once: on close, or earlier when a reconnect of the same page replaces the stream.
    const release = () => {
      if (!this.#streamRelease.delete(res)) return;
      if (key !== undefined && this.#streamsById.get(key) === res) this.#streamsById.delete(key);
      this.#streamAuthorizations.delete(res);
      this.#streamsOpen -= 1;
      const left = (this.#streams.get(principal.name) ?? 1) - 1;
      if (left > 0) this.#streams.set(principal.name, left);
      else this.#streams.delete(principal.name);
    };
    this.#streamRelease.set(res, release);
    res.once('close', release);
  }

  /**
   * endStaleStreams ends the live streams whose token the current tokens no longer accept, or
   * accept with another role or name. Every request is checked when it arrives, but a stream stays
   * open for hours: a token taken out of the token file by a reload went on receiving every tick
   * and decision until its client left, and one whose role changed kept the role its hello had
   * announced (a dashboard showed scale controls to a token demoted to read). Ended, the dashboard
   * reconnects: a refused token gets 401 and the sign-in form, a kept one a hello with its new role.
   */
  #endStaleStreams(): void {
    for (const [res, opened] of this.#streamAuthorizations) {
      const why = streamEndReason(opened.principal, this.#authenticate(opened.authorization));
      if (why === undefined) continue;
      this.#streamAuthorizations.delete(res);
      this.#options.logger?.warn(
        { remote: res.socket?.remoteAddress, token: opened.principal.name },
        `live stream ended: ${why}`,
      );
      res.end();
    }
  }

  /** liveStream is the SSE feed of the dashboard, sampling from listen() until close(). */
  #liveStream(): LiveStream {
    this.#stream ??= new LiveStream({
      controller: this.#options.controller,
      registry: this.#options.registry,
      ...(this.#options.streamBufferBytes !== undefined && {
        maxBufferedBytes: this.#options.streamBufferBytes,
      }),
      ...(this.#options.logger !== undefined && { logger: this.#options.logger }),
    });
    return this.#stream;
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    // A client gone mid-request leaves no socket and nothing to answer; a throw here would be an
    // unhandled rejection, which ends the whole process.
    if (res.headersSent || res.destroyed || req.socket === null) {
      res.destroy();
      return;
    }
    const [status, body, headers] = errorResponse(err);
    // Refused requests show in the log, so probing and fuzzing are seen; but at most one line per
    // address and status per interval, the next one counting those left out, so a flood of bad
    // requests does not flood the log. Failures (500) are always logged. The interval runs on the
    // monotonic clock: on Date.now, a step back of the system clock kept every refusal of an address
    // out of the log for as long as the step.
    const remote = req.socket.remoteAddress;
    const fields = { remote, method: req.method, path: safePath(req.url), status, error: body.error };
    if (status === 500) this.#options.logger?.warn({ ...fields, err }, 'API request failed');
    else {
      const verdict = this.#refusalLog.admit(`${remote ?? 'unknown'} ${status}`, performance.now());
      if (verdict.log)
        this.#options.logger?.warn(
          verdict.suppressed === 0 ? fields : { ...fields, suppressed: verdict.suppressed },
          verdict.suppressed === 0
            ? 'API request refused'
            : `API request refused (and ${verdict.suppressed} more like it from this address not logged)`,
        );
    }
    for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
    send(res, status, body);
  }

  /** logLeftOut writes the count of each address's refusals the throttle left out, once it is quiet. */
  #logLeftOut(now: number): void {
    for (const { key, suppressed } of this.#refusalLog.expired(now)) {
      const split = key.lastIndexOf(' ');
      this.#options.logger?.warn(
        { remote: key.slice(0, split), status: Number(key.slice(split + 1)), suppressed },
        `API requests refused: ${suppressed} more like the last one logged from this address, not logged`,
      );
    }
  }
}

/**
 * resizeTarget reads the resize body: `cpu` in cores (`0.5`, `"500m"`), `memory` in bytes or as a
 * size (`"256Mi"`), `size` an instance type (`"t3.large"`). A string result is the 400 message.
 */
function resizeTarget(cpu: unknown, memory: unknown, size: unknown): InstanceSize | string {
  const target: { cpu?: number; memory?: number; instanceType?: string } = {};
  if (cpu !== undefined) {
    const cores = parseCores(cpu);
    if (cores === undefined) return 'cpu: expected cores such as 0.5 or "500m" (at least 1m, 0.001)';
    target.cpu = cores;
  }
  if (memory !== undefined) {
    try {
      target.memory = parseSize(memory as string | number);
    } catch {
      return 'memory: expected bytes or a size such as "256Mi"';
    }
  }
  if (typeof size === 'string' && size.length > 0) target.instanceType = size;
  if (Object.keys(target).length === 0) return 'body: give cpu, memory or size';
  return target;
}

/**
 * parseCores reads cpu as cores (`0.5`, `"2"`) or millicores (`"500m"`), Kubernetes' forms, and at
 * least 1m (Kubernetes' finest). Number() read strings such as `"0x10"` (16 cores) and `"1e3"`, and
 * took `1e-9`: a typo became a very different size on every instance.
 */
function parseCores(cpu: unknown): number | undefined {
  let cores: number | undefined;
  if (typeof cpu === 'number') cores = cpu;
  else if (typeof cpu === 'string' && /^\d+m$/.test(cpu)) cores = Number.parseInt(cpu, 10) / 1000;
  else if (typeof cpu === 'string' && /^(\d+(\.\d*)?|\.\d+)$/.test(cpu)) cores = Number(cpu);
  return cores !== undefined && Number.isFinite(cores) && cores >= 0.001 ? cores : undefined;
}

/**
 * unsupportedSize is the 400 message for a field of the resize body that the group's provider has no
 * knob for (an instance type on local processes, cpu on AWS), or undefined when it honours them all.
 */
function unsupportedSize(
  provider: { kind: string; resizes?: readonly (keyof InstanceSize)[] },
  target: InstanceSize,
): string | undefined {
  const honoured = provider.resizes;
  if (honoured === undefined) return undefined;
  // The body says `size` for what providers call instanceType.
  const field = (key: keyof InstanceSize) => (key === 'instanceType' ? 'size (an instance type)' : key);
  const refused = (Object.keys(target) as (keyof InstanceSize)[]).find((key) => !honoured.includes(key));
  if (refused === undefined) return undefined;
  return `${refused === 'instanceType' ? 'size' : refused}: the ${provider.kind} provider resizes ${honoured.map(field).join(' and ')} only`;
}

/** errorResponse maps an error to the API's status and JSON `{error}` body. */
function errorResponse(
  err: unknown,
): [
  number,
  { error: string; code?: string; inEffect?: boolean; operation?: string },
  Record<string, string>?,
] {
  if (err instanceof HttpError)
    return [
      err.status,
      { error: err.message, ...(err.code !== undefined && { code: err.code }) },
      err.headers,
    ];
  if (err instanceof UnknownGroupError) return [404, { error: err.message, code: err.code }];
  if (err instanceof OutOfRangeError || err instanceof LimitExceededError)
    return [409, { error: err.message, code: err.code }];
  // Another operation holds the group (a resize refused BUSY): nothing changed, a conflict to wait
  // out, not a failed write to repeat at once (it was a 503 SCALEPLANE_NOT_STORED, "repeat it").
  if (err instanceof InProgressError)
    return [
      409,
      { error: err.message, code: err.code, operation: err.operation },
      err.retryAfterSeconds === undefined ? undefined : { 'retry-after': String(err.retryAfterSeconds) },
    ];
  // A standby: the client (or the Service in front) should retry, reaching the leader.
  if (err instanceof NotLeaderError || err instanceof StartingError)
    return [503, { error: err.message, code: err.code }, { 'retry-after': '2' }];
  // The change was not confirmed stored: `inEffect` says whether this controller runs with it anyway.
  // No Retry-After: a scale-out by N retried blindly after an in-effect change is applied twice.
  if (err instanceof NotStoredError)
    return [503, { error: err.message, code: err.code, inEffect: err.inEffect }];
  if (err instanceof ControllerError) return [400, { error: err.message, code: err.code }];
  // A reload that found the new config invalid: the running one is untouched.
  if (err instanceof ConfigError || err instanceof AuthConfigError)
    return [400, { error: err.message, code: err.code }];
  return [500, { error: 'internal error' }];
}

/**
 * requestUrl parses an origin-form request target. `//x` would be read as a host by `new URL(target,
 * base)`, and absolute-form or `*` targets are not for this API: those are a 400, never a throw.
 */
function requestUrl(target: string | undefined): URL {
  if (target === undefined || !target.startsWith('/'))
    throw new HttpError(400, 'request target: expected a path such as /api/scalability/groups');
  try {
    return new URL(`http://localhost${target}`);
  } catch {
    throw new HttpError(400, 'request target: not a valid path');
  }
}

/** decodePathSegment decodes a percent-encoded path segment; a malformed escape (`%E0%A4%A`) is a 400. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'path: malformed percent-encoding');
  }
}

/** safePath is the request path for a log line: bounded, without the query (it may carry secrets). */
function safePath(url: string | undefined): string {
  return (url ?? '').split('?')[0]!.slice(0, 200);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    // Status and journal bodies are for the token holder: kept by no browser or proxy cache, and
    // never sniffed as HTML (error messages echo the request path).
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(json);
}

/** allow refuses any other method with 405 and the `Allow` header RFC 9110 asks of a 405. */
function allow(method: string, methods: string[]): void {
  if (!methods.includes(method))
    throw new HttpError(405, `method ${method} not allowed; use ${methods.join(' or ')}`, {
      allow: methods.join(', '),
    });
}

/** EVENTS_QUERY are the query parameters `GET /api/scalability/events` reads. */
const EVENTS_QUERY = ['group', 'since', 'limit'] as const;
/**
 * STREAM_ID_HEADER names a live stream on behalf of its client (the dashboard sends one id per page):
 * a new stream with the id of one still open, for the same token, replaces it.
 */
export const STREAM_ID_HEADER = 'x-scaleplane-stream-id';

/** streamIdOf checks the stream id header: at most 64 letters, digits, `-` and `_`. */
function streamIdOf(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(value))
    throw new HttpError(400, `${STREAM_ID_HEADER}: expected 1 to 64 letters, digits, - or _`);
  return value;
}

/** STREAM_QUERY are the query parameters `GET /api/scalability/stream` reads. */
const STREAM_QUERY = ['group'] as const;

/**
 * checkQuery refuses a parameter the route does not read, or one given twice: `Limit=10` or
 * `limt=10` answered the whole journal, and `limit=1&limit=500` the first, as if either were meant.
 */
function checkQuery(url: URL, allowed: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of url.searchParams.keys()) {
    if (!allowed.includes(name))
      throw new HttpError(400, `${name}: ${unknownKeyMessage(name, allowed, 'query parameter')}`);
    if (seen.has(name)) throw new HttpError(400, `${name}: given more than once`);
    seen.add(name);
  }
}

/**
 * integerParam reads a query parameter written in digits. Number() read `limit=` as 0 (an empty list
 * for a script whose count was unset), and `0x10` or `1e3` as numbers no one wrote.
 */
function integerParam(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new HttpError(400, `${name}: must be a non-negative integer`);
  return value;
}

/**
 * readJson reads a request body of at most MAX_BODY_BYTES and parses it. Past the limit it stops
 * reading and answers 413 with `Connection: close`: the rest of the body is never read, and the
 * request is not destroyed under the handler (a chunked body of any size is refused the same way as
 * one with a large Content-Length).
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const tooLarge = () =>
    new HttpError(413, `body: larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      stop();
      req.pause();
      reject(tooLarge());
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
  let text: string;
  try {
    // Fatal: toString('utf8') turned each invalid byte into U+FFFD, so a purge or a size named
    // something no one sent. A leading BOM is dropped, as RFC 8259 lets a parser do.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, 'body: not valid UTF-8');
  }
  if (text.trim() === '') throw new HttpError(400, 'body: expected a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body: invalid JSON (${(err as Error).message})`);
  }
  const repeated = duplicateName(text);
  if (repeated !== undefined) throw new HttpError(400, `${repeated}: given more than once`);
  return value;
}
