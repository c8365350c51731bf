import { EventEmitter } from 'node:events';
import http from 'node:http';
import type http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { Counter, Gauge } from 'prom-client';
import { MAX_TIMER_MS, readTls, sameTls, type TlsMaterial } from '../config/index.js';
import type {
  BalancerAlgorithm,
  BalancerConfig,
  HostPort,
  HttpCacheConfig,
  RouteConfig,
} from '../config/types.js';
import { type ClientErrorListener, onClientError } from '../log/index.js';
import { type ScaleplaneMetrics, ScaleplaneRegistry } from '../metrics/index.js';
import { createPicker, type Picker, type PickerOptions, parseHashKey } from './algorithms/index.js';
import {
  type CacheUpstream,
  createHttpCache,
  type HttpCache,
  type PurgeSelector,
  type PurgeTarget,
} from './cache/index.js';
import { type ToWorker, WorkerSet } from './cluster.js';
import { BalancerError, UnknownGroupError } from './errors.js';
import { HealthChecker, type HealthTransition, validateHealthConfig } from './health.js';
import { Http2Edge, Http2Request, IDLE_TIMEOUT_MS } from './http2.js';
import { fetchFromGroup } from './origin.js';
import { countOutcome, ejectionDecision, type OutlierOutcome, type OutlierTrip } from './outlier.js';
import { inTurn } from './pipeline.js';
import { Pool, type PoolChange, type PoolMember } from './pool.js';
import { GroupRoute, hashKeyOf, ProxyPath } from './proxy.js';
import { sendJson } from './respond.js';
import { RetryBudget } from './retry-budget.js';
import { hostRefusal, removeDotSegments, toOriginForm, transferCodingRefusal } from './target.js';
import type { BackendInstance, BalancerLogger, GroupStats } from './types.js';
import { proxyUpgrade, rawReply } from './websocket.js';
import { WorkerEjections } from './worker-ejections.js';

/** BalancerOptions configures a Balancer. */
export interface BalancerOptions {
  config: BalancerConfig;
  metrics: ScaleplaneMetrics;
  /** Where background failures and notable events go. @defaultValue a logger that drops everything */
  logger?: BalancerLogger;
  /** Host/path routes, first match wins. @defaultValue [] (everything to the first group) */
  routes?: readonly RouteConfig[];
  /** Uniform random in [0, 1) for p2c and ewma. @defaultValue Math.random */
  random?: () => number;
  /** Monotonic clock in ms for ewma, slow start and ejections. @defaultValue performance.now */
  now?: () => number;
  /** Run active health checks here; data-path workers get health pushed instead. @defaultValue true */
  activeHealth?: boolean;
  /** Wall clock of the HTTP response caches, ms since the epoch (HTTP dates). @defaultValue Date.now */
  cacheClock?: () => number;
  /**
   * Told the URLs an unsafe request invalidated in the HTTP cache named `cache` (`default`,
   * `routes[N]`); a data-path worker passes them on to the other workers (`invalidateCache`). A
   * promise holds the request's answer until it settles (until the other workers have dropped them).
   */
  onCacheInvalidate?: (cache: string, targets: readonly PurgeTarget[]) => Promise<void> | void;
}

/** GroupOptions are per-group settings of `setGroup`. */
export interface GroupOptions {
  /** Health path of this group's instances. @defaultValue config.health.path */
  healthPath?: string;
}

/** Ejection reports a backend taken out by passive outlier detection. */
export interface Ejection {
  readonly group: string;
  readonly id: string;
  readonly address: string;
  readonly reason: OutlierTrip;
  /** How long it stays out, ms. */
  readonly duration: number;
  /** How many times it was ejected (1 for the first), which sets the duration. */
  readonly ejections: number;
}

/** Recovery reports an ejected backend back in rotation. */
export interface Recovery {
  readonly group: string;
  readonly id: string;
  readonly address: string;
}

/**
 * Unhealthy says a backend looks broken, by its active health check (`health-check`) or by real
 * traffic (`outlier`): the controller may replace the instance.
 */
export interface Unhealthy {
  readonly group: string;
  readonly id: string;
  readonly address: string;
  readonly source: 'health-check' | 'outlier';
  /** Status or error code of the failing check, or the outlier trip reason. */
  readonly detail: string;
}

/** BalancerEvents are what a Balancer emits. */
export interface BalancerEvents {
  /** A backend went healthy or unhealthy by its active health check. */
  health: [transition: HealthTransition];
  /** Passive outlier detection took a backend out. */
  ejection: [ejection: Ejection];
  /** An ejected backend is back. */
  recovery: [recovery: Recovery];
  /** A backend failed its health check or was ejected. */
  unhealthy: [unhealthy: Unhealthy];
}

interface GroupEntry {
  readonly route: GroupRoute;
  readonly checker: HealthChecker | undefined;
  instances: readonly BackendInstance[];
  healthPath: string | undefined;
}

/** RouteTarget is where a request goes: a group and the picker that chooses within it. */
interface RouteTarget {
  route: GroupRoute;
  picker: Picker;
  /** The route's HTTP response cache and its way to the group, when the route caches. */
  cache?: { readonly cache: HttpCache; readonly upstream: CacheUpstream };
}

interface CompiledRoute {
  readonly config: RouteConfig;
  /** Exact host or, for `*.example.com`, the suffix `.example.com`; undefined matches any. */
  readonly host: string | undefined;
  readonly wildcard: boolean;
  readonly prefix: string;
  target: RouteTarget | undefined;
  cache: HttpCache | undefined;
}

const NO_ROUTE = Buffer.from(JSON.stringify({ error: 'no route for this host and path' }));
const CONNECT_REFUSED = Buffer.from(JSON.stringify({ error: 'CONNECT is not supported' }));

interface OutlierMetrics {
  /** Instances taken out; with data-path workers, by the first worker that ejects (COUNTED_HERE). */
  ejections: Counter<'group' | 'reason'>;
  /** Instances back; with data-path workers, once the last worker lets them back or dies. */
  recoveries: Counter<'group'>;
  /** 1 while an instance passes its active health check, 0 while it fails it. */
  healthy: Gauge<'group' | 'instance'>;
  /** 1 while an instance is ejected (by any data-path worker), else 0. */
  ejected: Gauge<'group' | 'instance'>;
}

// The metrics module owns the common series; these are the balancer's own, registered once per registry.
function outlierMetrics(metrics: ScaleplaneMetrics): OutlierMetrics {
  const registry = metrics.registry;
  const gauge = (name: string, help: string, aggregator: 'min' | 'max') =>
    (registry.getSingleMetric(name) as Gauge<'group' | 'instance'> | undefined) ??
    new Gauge({
      name,
      help,
      labelNames: ['group', 'instance'] as const,
      registers: [registry],
      // Across data-path workers: ejected by any of them; healthy as the controller process sees it.
      aggregator,
    });
  const ejections =
    (registry.getSingleMetric('scaleplane_outlier_ejections_total') as
      | Counter<'group' | 'reason'>
      | undefined) ??
    new Counter({
      name: 'scaleplane_outlier_ejections_total',
      help: 'Backends ejected by passive outlier detection, by reason.',
      labelNames: ['group', 'reason'] as const,
      registers: [registry],
    });
  const recoveries =
    (registry.getSingleMetric('scaleplane_outlier_recoveries_total') as Counter<'group'> | undefined) ??
    new Counter({
      name: 'scaleplane_outlier_recoveries_total',
      help: 'Ejected backends returned to rotation.',
      labelNames: ['group'] as const,
      registers: [registry],
    });
  return {
    ejections,
    recoveries,
    healthy: gauge(
      'scaleplane_backend_healthy',
      'Whether an instance passes its active health check (1) or fails it (0).',
      'min',
    ),
    ejected: gauge(
      'scaleplane_backend_ejected',
      'Whether an instance is ejected by passive outlier detection (1) or not (0).',
      'max',
    ),
  };
}

/**
 * COUNTED_HERE are the series the controller process counts itself in cluster mode: each worker
 * ejects on its own traffic, so their sum would count one failing instance once per worker.
 */
const COUNTED_HERE: ReadonlySet<string> = new Set([
  'scaleplane_outlier_ejections_total',
  'scaleplane_outlier_recoveries_total',
]);

/** CACHE_CONNECT_WAIT_MS is how long `listen` waits for a Redis-backed HTTP cache to connect. */
const CACHE_CONNECT_WAIT_MS = 2000;

const silentLogger: BalancerLogger = { info() {}, warn() {}, error() {} };

/**
 * Balancer is Scaleplane's HTTP load balancer: a node:http server (node:http2 with ALPN h2 and
 * http/1.1 when TLS is on, see http2.ts) that forwards each request over HTTP/1.1 to a backend of a
 * group, with active health checks, safe retries and draining. Groups are fed by `setGroup` from
 * the providers' instance lists.
 */
export class Balancer extends EventEmitter<BalancerEvents> {
  readonly #config: BalancerConfig;
  readonly #metrics: ScaleplaneMetrics;
  readonly #logger: BalancerLogger;
  readonly #agent: http.Agent;
  readonly #proxy: ProxyPath;
  readonly #server: http.Server | http2.Http2SecureServer;
  /** The HTTP/2 listener's connections, when `balancer.http2` is on. */
  readonly #edge: Http2Edge | undefined;
  /** The certificate and key served now (with `tls`), to tell a rotated pair on reloadTls. */
  #tlsMaterial: TlsMaterial | undefined;
  // Insertion order is routing order: with no routes, the first group added takes everything.
  readonly #groups = new Map<string, GroupEntry>();
  readonly #routes: CompiledRoute[];
  readonly #pickerOptions: PickerOptions;
  readonly #outlierMetrics: OutlierMetrics;
  #defaultTarget: RouteTarget | undefined;
  /** `balancer.cache`: the cache of the default route (no routes configured). */
  readonly #defaultCache: HttpCache | undefined;
  readonly #activeHealth: boolean;
  readonly #workers: WorkerSet | undefined;
  /** The listener's `clientError` handler, whose TLS-failure log throttle close() flushes. */
  readonly #clientErrors: ClientErrorListener;
  /** Which workers have which backend ejected: each ejection and recovery is reported once. */
  readonly #workerEjections = new WorkerEjections();
  #removeWorkerMetrics: (() => void) | undefined;
  #listening: Promise<HostPort> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: BalancerOptions) {
    super();
    const { config } = options;
    validateConfig(config);
    this.#config = config;
    this.#metrics = options.metrics;
    this.#logger = options.logger ?? silentLogger;
    this.#pickerOptions = {
      hashKey: parseHashKey(config.hashKey),
      ...(options.random === undefined ? {} : { random: options.random }),
      ...(options.now === undefined ? {} : { now: options.now }),
    };
    this.#routes = (options.routes ?? []).map(compileRoute);
    for (const route of this.#routes)
      if (route.config.algorithm !== undefined) createPicker(route.config.algorithm);
    this.#outlierMetrics = outlierMetrics(options.metrics);
    // Idle upstream sockets close before the backend's own keep-alive timeout would, so we never
    // send on a socket the backend is closing (the keep-alive race).
    this.#agent = new http.Agent({
      keepAlive: true,
      scheduling: 'lifo',
      timeout: config.upstreamKeepAliveTimeout,
    });
    this.#proxy = new ProxyPath({
      agent: this.#agent,
      requestTimeout: config.requestTimeout,
      maxRequestBody: config.maxRequestBody,
      maxHeaderSize: config.maxHeaderSize,
      logger: this.#logger,
      onClosingExchangeEnd: () => this.#closeIdleConnections(),
      upstreamKeepAliveTimeout: config.upstreamKeepAliveTimeout,
      ...(config.connectTimeout === undefined ? {} : { connectTimeout: config.connectTimeout }),
      ...(config.perTryTimeout === undefined ? {} : { perTryTimeout: config.perTryTimeout }),
      ...(config.websocketIdleTimeout === undefined
        ? {}
        : { websocketIdleTimeout: config.websocketIdleTimeout }),
    });
    // Timeouts set here, not left to Node's defaults: a client trickling its headers (slowloris) is
    // answered 408 and closed after headersTimeout, checked every second rather than every 30 s.
    const headersTimeout = config.headersTimeout ?? 10_000;
    const serverOptions = {
      maxHeaderSize: config.maxHeaderSize,
      headersTimeout,
      // NGINX's keepalive_timeout (75 s) unless set: Node's own 5 s is below the idle timeout of the
      // load balancers put in front (AWS ALB 60 s, Google's 600 s), which then sent requests on
      // connections the balancer was closing and answered their clients 502.
      keepAliveTimeout: config.clientKeepAliveTimeout ?? IDLE_TIMEOUT_MS,
      requestTimeout: Math.max(config.requestTimeout, headersTimeout),
      requireHostHeader: false, // checked in #onRequest, so that the refusal gets a log line
      connectionsCheckingInterval: Math.min(1_000, headersTimeout),
    };
    this.#tlsMaterial = config.tls === undefined ? undefined : readTls(config.tls);
    if (this.#tlsMaterial !== undefined && config.http2 !== false) {
      this.#edge = new Http2Edge(
        {
          tls: this.#tlsMaterial,
          maxHeaderSize: config.maxHeaderSize,
          headersTimeout,
          requestTimeout: serverOptions.requestTimeout,
          connectionsCheckingInterval: serverOptions.connectionsCheckingInterval,
          keepAliveTimeout: serverOptions.keepAliveTimeout,
          idleTimeout: serverOptions.keepAliveTimeout,
          logger: this.#logger,
        },
        this.#onRequest,
      );
      this.#server = this.#edge.server;
    } else {
      this.#edge = undefined;
      this.#server =
        this.#tlsMaterial === undefined
          ? http.createServer(serverOptions, this.#onRequest)
          : https.createServer(
              // The TLS handshake is held to headers_timeout too (see Http2Edge).
              { ...serverOptions, handshakeTimeout: headersTimeout, ...this.#tlsMaterial },
              this.#onRequest,
            );
    }
    // Node answers `Expect: 100-continue` itself unless told otherwise, and so invited a body it was
    // about to refuse: the client sent it (curl: 2.6 MB of a 30 MB upload) into a 413 and a closing
    // connection. A body declared over max_request_body gets its 413 without the 100 (RFC 9110
    // §10.1.1: a final status instead), as NGINX does; any other request is told to continue.
    // The HTTP/2 listener too: its compatibility API emits checkContinue with our Http2Request (and
    // its HTTP/1.1-by-ALPN connections through node:http's), and left to Node's default it sent the
    // 100 to an h2 client before the 413 as well.
    // node:http keeps the first 2000 header fields of a message and drops the rest without a word,
    // while its parser still frames the body by them: a POST whose Content-Length came after 2000
    // short fields went upstream without its body (and without whatever else came after). The
    // byte limit, `maxHeaderSize`, bounds a header section, as NGINX's does.
    (this.#server as { maxHeadersCount: number | null }).maxHeadersCount = 0;
    this.#server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!(Number(req.headers['content-length']) > config.maxRequestBody)) res.writeContinue();
      this.#onRequest(req, res);
    });
    this.#clientErrors = onClientError(
      this.#logger,
      'balancer',
      options.now === undefined ? {} : { now: options.now },
    );
    this.#server.on('clientError', this.#clientErrors);
    this.#server.on('upgrade', this.#onUpgrade);
    // Left unheard, node:http destroys a CONNECT's socket without a word: the client saw an empty
    // reply. This is no forward proxy: 405, as NGINX answers it. On the HTTP/2 listener the event
    // brings an HTTP/2 CONNECT's response (Node answered those 405 itself while nobody listened),
    // or an HTTP/1.1-by-ALPN connection's socket.
    this.#server.on('connect', (req: http.IncomingMessage, socket: Duplex | http.ServerResponse) => {
      this.#logger.warn(
        { remote: req.socket.remoteAddress, status: 405, reason: 'CONNECT is not supported' },
        'balancer: request refused: CONNECT is not supported',
      );
      if (req.httpVersionMajor >= 2) {
        sendJson(socket as http.ServerResponse, 405, CONNECT_REFUSED, false);
        return;
      }
      socket.on('error', () => {});
      rawReply(socket as Duplex, 405, CONNECT_REFUSED);
    });
    this.#server.on('error', (err) => this.#logger.error({ err }, 'balancer server error'));
    this.#activeHealth = options.activeHealth ?? true;
    const workers = config.workers === 0 ? availableParallelism() : config.workers;
    this.#workers =
      workers <= 1
        ? undefined
        : new WorkerSet({
            count: workers,
            boot: {
              config,
              routes: options.routes ?? [],
              requestDurationBuckets: options.metrics.requestDurationBuckets,
            },
            logger: this.#logger,
            replay: () => this.#replay(),
            onEvent: (name, payload, worker) => this.#onWorkerEvent(name, payload, worker),
            onExit: (worker) => this.#onWorkerExit(worker),
          });
    // The workers serve the requests: their series join this process's on every scrape, but for the
    // outlier counters, which this process counts itself from WorkerEjections (one per instance).
    const registry = options.metrics.registry;
    const workerSet = this.#workers;
    if (workerSet !== undefined && registry instanceof ScaleplaneRegistry)
      this.#removeWorkerMetrics = registry.addRemote(async () =>
        (await workerSet.metrics()).map((snapshot) => snapshot.filter((m) => !COUNTED_HERE.has(m.name))),
      );
    // With data-path workers, each worker has its own caches; this process serves nothing.
    const cacheLogger = this.#logger;
    const { onCacheInvalidate } = options;
    const invalidated = (name: string) =>
      onCacheInvalidate === undefined
        ? undefined
        : (targets: readonly PurgeTarget[]) => onCacheInvalidate(name, targets);
    if (this.#workers === undefined) {
      this.#routes.forEach((route, index) => {
        const cache = route.config.cache;
        const name = `routes[${index}]`;
        if (cache !== undefined)
          route.cache = createHttpCache(
            name,
            withLockTimeout(cache, config.requestTimeout),
            options.metrics.registry,
            cacheLogger,
            options.cacheClock,
            invalidated(name),
          );
      });
    }
    this.#defaultCache =
      config.cache === undefined || this.#workers !== undefined || this.#routes.length > 0
        ? undefined
        : createHttpCache(
            'default',
            withLockTimeout(config.cache, config.requestTimeout),
            options.metrics.registry,
            cacheLogger,
            options.cacheClock,
            invalidated('default'),
          );
  }

  /** caching says whether any route of this balancer (or its workers) has an HTTP response cache. */
  get caching(): boolean {
    return (
      (this.#routes.length === 0 && this.#config.cache !== undefined) ||
      this.#routes.some((route) => route.config.cache !== undefined)
    );
  }

  /**
   * invalidateCache drops from the HTTP cache named `cache` the URLs an unsafe request handled by
   * another data-path worker invalidated there (each worker holds its own memory cache).
   */
  invalidateCache(cache: string, targets: readonly PurgeTarget[]): void {
    const caches = [this.#defaultCache, ...this.#routes.map((route) => route.cache)];
    for (const each of caches) if (each?.name === cache) each.invalidate(targets);
  }

  /**
   * purgeCache removes what `selector` names from every HTTP response cache of this balancer and
   * returns how many keys went. With data-path workers, each worker purges its own caches too.
   */
  async purgeCache(selector: PurgeSelector): Promise<number> {
    const caches = [this.#defaultCache, ...this.#routes.map((route) => route.cache)].filter(
      (cache): cache is HttpCache => cache !== undefined,
    );
    const removed = await Promise.all(caches.map((cache) => cache.purge(selector)));
    const fromWorkers = (await this.#workers?.purge(selector)) ?? 0;
    return removed.reduce((sum, n) => sum + n, fromWorkers);
  }

  /**
   * setGroup creates or updates a group from its instances: `ready` ones receive requests, one that
   * went `draining` stops receiving new ones, vanished ones are removed (their requests in flight
   * still finish). Throws a BalancerError, changing nothing, on an invalid address.
   */
  setGroup(group: string, instances: readonly BackendInstance[], options: GroupOptions = {}): void {
    if (this.#closing !== undefined) throw new BalancerError('BALANCER_CLOSED', 'balancer is closed');
    let entry = this.#groups.get(group);
    let change: PoolChange;
    if (entry === undefined) {
      const pool = new Pool({
        drainTimeout: this.#config.drainTimeout,
        slowStart: this.#config.slowStart,
        panicThreshold: this.#config.outlier.panicThreshold,
        ...(this.#pickerOptions.now === undefined ? {} : { now: this.#pickerOptions.now }),
        onDrainTimeout: (backend) =>
          this.#logger.warn(
            { group, backend: backend.id, inFlight: backend.inFlight },
            'drain timed out with requests in flight',
          ),
      });
      change = pool.setInstances(instances);
      const checker = this.#activeHealth
        ? new HealthChecker({
            group,
            config: this.#config.health,
            metrics: this.#metrics,
            path: options.healthPath,
          })
        : undefined;
      checker?.on('transition', this.#onHealth);
      const route = new GroupRoute(
        group,
        pool,
        createPicker(this.#config.algorithm, this.#pickerOptions),
        this.#metrics,
        new RetryBudget(this.#config.retryBudget),
        (member, outcome) => this.#onOutcome(route, member, outcome),
      );
      entry = { route, checker, instances, healthPath: options.healthPath };
      this.#groups.set(group, entry);
      this.#bindRoutes();
    } else {
      change = entry.route.pool.setInstances(instances);
      entry.instances = instances;
      if (options.healthPath !== undefined) {
        entry.healthPath = options.healthPath;
        if (entry.checker) entry.checker.path = options.healthPath;
      }
    }
    const { healthy, ejected } = this.#outlierMetrics;
    for (const member of change.removed) {
      entry.checker?.remove(member.id);
      this.#workerEjections.forget(group, member.id);
      this.#proxy.retire(member);
      healthy.remove({ group, instance: member.id });
      ejected.remove({ group, instance: member.id });
    }
    for (const member of change.added) {
      entry.checker?.add(member);
      if (this.#activeHealth) healthy.set({ group, instance: member.id }, 1);
      ejected.set({ group, instance: member.id }, 0);
    }
    this.#workers?.broadcast({ t: 'set', group, instances, healthPath: entry.healthPath });
  }

  /**
   * markHealth applies a health verdict made elsewhere (a data-path worker is told by the
   * controller process, which runs the checks). Returns whether anything changed.
   */
  markHealth(group: string, id: string, healthy: boolean): boolean {
    return this.#groups.get(group)?.route.pool.setHealthy(id, healthy) ?? false;
  }

  /**
   * markWarming puts an instance in slow start as if it had joined `elapsed` ms ago (a data-path
   * worker replacing one that died is told by the controller process). Returns whether it did.
   */
  markWarming(group: string, id: string, elapsed: number): boolean {
    return this.#groups.get(group)?.route.pool.warm(id, elapsed) ?? false;
  }

  /** removeGroup forgets a group; its requests in flight still finish. Returns whether it existed. */
  removeGroup(group: string): boolean {
    const entry = this.#groups.get(group);
    if (entry === undefined) return false;
    this.#groups.delete(group);
    entry.checker?.close();
    this.#workerEjections.forgetGroup(group);
    this.#workers?.broadcast({ t: 'remove', group });
    for (const member of entry.route.pool.clear().removed) {
      this.#proxy.retire(member);
      this.#outlierMetrics.healthy.remove({ group, instance: member.id });
      this.#outlierMetrics.ejected.remove({ group, instance: member.id });
    }
    this.#bindRoutes();
    return true;
  }

  /**
   * drain stops new requests to an instance and resolves once none of its requests is in flight,
   * or after `drainTimeout`. An unknown group or instance has nothing in flight: it resolves at once.
   */
  drain(group: string, id: string): Promise<void> {
    const local = this.#groups.get(group)?.route.pool.drain(id) ?? Promise.resolve();
    if (this.#workers === undefined) return local;
    return Promise.all([local, this.#workers.drain(group, id)]).then(() => undefined);
  }

  /** stats is a point-in-time view of a group. Throws UnknownGroupError for an unknown group. */
  stats(group: string): GroupStats {
    const entry = this.#groups.get(group);
    if (entry === undefined) throw new UnknownGroupError(group);
    const { route } = entry;
    const fromWorkers = this.#workers?.stats(group);
    if (fromWorkers !== undefined) {
      // Workers know traffic; this process knows membership and health.
      const traffic = new Map(fromWorkers.backends.map((b) => [b.id, b]));
      return {
        inFlight: fromWorkers.inFlight,
        requests: fromWorkers.requests,
        panic: fromWorkers.panic,
        backends: route.pool.members().map((member) => {
          const seen = traffic.get(member.id);
          const snapshot = member.snapshot();
          return seen === undefined
            ? snapshot
            : { ...snapshot, inFlight: seen.inFlight, ejected: seen.ejected, weight: seen.weight };
        }),
      };
    }
    return {
      inFlight: route.inFlight,
      requests: route.requests,
      panic: route.pool.panic,
      backends: route.pool.members().map((member) => member.snapshot()),
    };
  }

  /**
   * reloadTls re-reads the `tls` certificate and key files and, when they changed (a certificate
   * renewed in place: cert-manager, certbot), serves the new pair to every new connection, HTTP/2
   * included, on every cluster worker; open connections keep the pair they shook hands with.
   * Returns whether the pair changed (false without `tls`). Throws, changing nothing, when a file
   * cannot be read.
   */
  reloadTls(): boolean {
    if (this.#config.tls === undefined || this.#tlsMaterial === undefined) return false;
    const next = readTls(this.#config.tls);
    if (sameTls(next, this.#tlsMaterial)) return false;
    // https.Server and Http2SecureServer are both node:tls servers.
    (this.#server as unknown as tls.Server).setSecureContext(next);
    this.#tlsMaterial = next;
    // Each worker reads the files itself: the key does not travel over IPC.
    this.#workers?.broadcast({ t: 'tls' });
    return true;
  }

  /** listen starts serving on `config.listen` (port 0 picks a free port) and returns the bound address. */
  listen(): Promise<HostPort> {
    if (this.#closing !== undefined)
      return Promise.reject(new BalancerError('BALANCER_CLOSED', 'balancer is closed'));
    this.#listening ??= this.#cachesReady().then(() => this.#bind());
    return this.#listening;
  }

  // A shared (Redis) cache gets a moment to connect so the first requests can use it.
  async #cachesReady(): Promise<void> {
    const caches = [this.#defaultCache, ...this.#routes.map((route) => route.cache)];
    await Promise.all(caches.map((cache) => cache?.ready(CACHE_CONNECT_WAIT_MS)));
  }

  #bind(): Promise<HostPort> {
    return new Promise<HostPort>((resolve, reject) => {
      const { host, port } = this.#config.listen;
      const onError = (err: Error): void => {
        reject(
          new BalancerError('BALANCER_LISTEN_FAILED', `cannot listen on ${host}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      };
      if (this.#workers !== undefined) {
        this.#workers.start().then(resolve, (err: Error) => onError(err));
        return;
      }
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        const address = this.#server.address() as AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /**
   * close stops accepting connections, lets requests in flight finish (at most `drainTimeout`, then
   * cuts them), closes idle client and backend sockets and stops health checks. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#proxy.closing = true;
    for (const entry of this.#groups.values()) entry.checker?.close();
    await this.#listening?.catch(() => undefined);
    await this.#workers?.close(this.#config.drainTimeout);
    this.#removeWorkerMetrics?.();
    if (this.#server.listening) {
      await new Promise<void>((resolve) => {
        const grace = setTimeout(() => {
          if (this.#edge === undefined) (this.#server as http.Server).closeAllConnections();
          else this.#edge.closeAll();
          for (const socket of this.#proxy.tunnels) socket.destroy();
        }, this.#config.drainTimeout);
        grace.unref();
        this.#server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        // HTTP/2 clients get a GOAWAY: they open no new stream here, and the ones open finish.
        this.#edge?.goAway();
        this.#closeIdleConnections();
      });
    }
    // The counts of failed TLS handshakes left out of the log are written before the balancer goes.
    this.#clientErrors.flush(Number.POSITIVE_INFINITY);
    this.#agent.destroy();
    await this.#proxy.destroy();
    await Promise.all([this.#defaultCache?.close(), ...this.#routes.map((route) => route.cache?.close())]);
  }

  #closeIdleConnections(): void {
    if (this.#edge === undefined) (this.#server as http.Server).closeIdleConnections();
    else this.#edge.closeIdle();
  }

  readonly #onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // HTTP/2 streams are concurrent by design, bounded by SETTINGS_MAX_CONCURRENT_STREAMS.
    if (req.httpVersionMajor === 1) inTurn(req, res, this.#dispatch);
    else this.#dispatch(req, res);
  };

  readonly #dispatch = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const refused = refusal(req, this.#config.maxHeaderSize);
    if (refused !== undefined) {
      this.#logger.warn(
        { remote: req.socket.remoteAddress, status: refused.status, reason: refused.reason },
        `balancer: request refused: ${refused.reason}`,
      );
      sendRefusal(res, refused);
      return;
    }
    const target = this.#route(req);
    if (target === undefined) {
      if (this.#routes.length > 0) sendNoRoute(res);
      else this.#proxy.noRoute(res);
    } else if (target.cache !== undefined) target.cache.cache.handle(req, res, target.cache.upstream);
    else this.#proxy.handle(target.route, target.picker, req, res);
  };

  readonly #onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refused = refusal(req, this.#config.maxHeaderSize);
    if (refused !== undefined) {
      this.#logger.warn(
        { remote: req.socket.remoteAddress, status: refused.status, reason: refused.reason },
        `balancer: request refused: ${refused.reason}`,
      );
      socket.on('error', () => {});
      rawReply(socket, refused.status, Buffer.from(JSON.stringify({ error: refused.reason })));
      return;
    }
    const target = this.#closing === undefined ? this.#route(req) : undefined;
    if (target === undefined) {
      socket.on('error', () => {});
      rawReply(socket, 503, NO_ROUTE);
    } else proxyUpgrade(this.#proxy, target.route, target.picker, req, socket, head);
  };

  // First matching route wins; with no routes, everything goes to the first group added.
  #route(req: http.IncomingMessage): RouteTarget | undefined {
    const routes = this.#routes;
    if (routes.length === 0) return this.#defaultTarget;
    const host = hostOf(req.headers.host);
    const url = req.url ?? '/';
    for (const route of routes) {
      if (route.host !== undefined) {
        if (route.wildcard ? !host.endsWith(route.host) : host !== route.host) continue;
      }
      if (url.startsWith(route.prefix)) return route.target;
    }
    return undefined;
  }

  #bindRoutes(): void {
    const first = this.#groups.values().next().value;
    this.#defaultTarget =
      first === undefined
        ? undefined
        : this.#withCache({ route: first.route, picker: first.route.picker }, this.#defaultCache);
    for (const route of this.#routes) {
      const entry = this.#groups.get(route.config.group);
      if (entry === undefined) route.target = undefined;
      else if (route.target?.route !== entry.route)
        route.target = this.#withCache(
          targetFor(entry.route, route.config.algorithm, this.#pickerOptions),
          route.cache,
        );
    }
  }

  #withCache(target: RouteTarget, cache: HttpCache | undefined): RouteTarget {
    if (cache === undefined) return target;
    const proxy = this.#proxy;
    const { route, picker } = target;
    const source = picker.hashKey;
    const upstream: CacheUpstream = {
      fetch: (request) => fetchFromGroup(proxy, route, picker, request),
      pass: (req, res) => proxy.handle(route, picker, req, res),
      get closing() {
        return proxy.closing;
      },
      ...(source === undefined ? {} : { hashKey: (req: http.IncomingMessage) => hashKeyOf(req, source) }),
    };
    return { ...target, cache: { cache, upstream } };
  }

  #onOutcome(route: GroupRoute, member: PoolMember, outcome: OutlierOutcome): void {
    const outlier = this.#config.outlier;
    const trip = countOutcome(member, outcome, outlier);
    if (trip === undefined || member.ejected || member.removed || member.draining) return;
    const pool = route.pool;
    const now = pool.now();
    const decision = ejectionDecision(
      {
        total: pool.activeCount(),
        ejected: pool.ejectedCount(),
        previousEjections: member.ejections,
        lastRecovery: member.lastRecovery,
        now,
      },
      outlier,
    );
    const fields = { group: route.name, backend: member.id, reason: trip };
    if (!decision.eject) {
      this.#logger.warn({ ...fields, decision: decision.reason }, 'backend failing but not ejected');
      return;
    }
    member.ejections = decision.ejections - 1;
    pool.setEjected(member, true, now + decision.duration);
    member.ejectionTimer = setTimeout(() => this.#recover(route, member), decision.duration);
    member.ejectionTimer.unref();
    this.#outlierMetrics.ejections.inc({ group: route.name, reason: trip });
    this.#outlierMetrics.ejected.set({ group: route.name, instance: member.id }, 1);
    this.#logger.warn({ ...fields, ms: decision.duration, ejections: decision.ejections }, 'backend ejected');
    const { id, address } = member;
    this.emit('ejection', {
      group: route.name,
      id,
      address,
      reason: trip,
      duration: decision.duration,
      ejections: decision.ejections,
    });
    this.emit('unhealthy', { group: route.name, id, address, source: 'outlier', detail: trip });
  }

  #recover(route: GroupRoute, member: PoolMember): void {
    member.ejectionTimer = undefined;
    if (member.removed || !member.ejected) return;
    route.pool.setEjected(member, false);
    this.#outlierMetrics.recoveries.inc({ group: route.name });
    this.#outlierMetrics.ejected.set({ group: route.name, instance: member.id }, 0);
    this.#logger.info({ group: route.name, backend: member.id }, 'backend back from ejection');
    this.emit('recovery', { group: route.name, id: member.id, address: member.address });
  }

  #replay(): ToWorker[] {
    const messages: ToWorker[] = [];
    for (const [group, entry] of this.#groups) {
      messages.push({ t: 'set', group, instances: entry.instances, healthPath: entry.healthPath });
      for (const member of entry.route.pool.members()) {
        if (!member.healthy) messages.push({ t: 'health', group, id: member.id, healthy: false });
        // Drained by `drain` (a scale-in, a replacement) while the provider still lists it ready:
        // a replacement worker must not send it new requests either. Seq 0 waits for no answer.
        if (member.draining) messages.push({ t: 'drain', group, id: member.id, seq: 0 });
        // Its pool starts empty, and the first members of an empty pool take full weight at once.
        const elapsed = entry.route.pool.warmingFor(member.id);
        if (elapsed !== undefined) messages.push({ t: 'warming', group, id: member.id, elapsed });
      }
    }
    return messages;
  }

  // Each worker ejects on its own traffic: the instance's ejection is reported when the first worker
  // takes it out, its recovery when the last one lets it back (journal, alerts and replacement see
  // one transition each, not one per worker).
  #onWorkerEvent(name: 'ejection' | 'recovery', payload: unknown, worker: number): void {
    if (name === 'ejection') {
      const ejection = payload as Ejection;
      if (!this.#workerEjections.eject(ejection, worker)) return;
      const { group, id, address, reason } = ejection;
      this.#outlierMetrics.ejections.inc({ group, reason });
      this.emit('ejection', ejection);
      this.emit('unhealthy', { group, id, address, source: 'outlier', detail: reason });
      return;
    }
    const recovery = payload as Recovery;
    if (!this.#workerEjections.recover(recovery.group, recovery.id, worker)) return;
    this.#outlierMetrics.recoveries.inc({ group: recovery.group });
    this.emit('recovery', recovery);
  }

  // A worker's replacement starts with no ejection: what only it had ejected is back everywhere.
  #onWorkerExit(worker: number): void {
    if (this.#closing !== undefined) return;
    for (const back of this.#workerEjections.workerGone(worker)) {
      this.#outlierMetrics.recoveries.inc({ group: back.group });
      this.emit('recovery', back);
    }
  }

  readonly #onHealth = (transition: HealthTransition): void => {
    const entry = this.#groups.get(transition.group);
    if (entry === undefined) return;
    entry.route.pool.setHealthy(transition.id, transition.healthy);
    this.#outlierMetrics.healthy.set(
      { group: transition.group, instance: transition.id },
      transition.healthy ? 1 : 0,
    );
    const fields = { group: transition.group, backend: transition.id, detail: transition.detail };
    if (transition.healthy) this.#logger.info(fields, 'backend healthy');
    else this.#logger.warn(fields, 'backend unhealthy');
    this.emit('health', transition);
    this.#workers?.broadcast({
      t: 'health',
      group: transition.group,
      id: transition.id,
      healthy: transition.healthy,
    });
    if (!transition.healthy) {
      const { group, id, address, detail } = transition;
      this.emit('unhealthy', { group, id, address, source: 'health-check', detail });
    }
  };
}

function targetFor(
  route: GroupRoute,
  algorithm: BalancerAlgorithm | undefined,
  options: PickerOptions,
): RouteTarget {
  return {
    route,
    picker:
      algorithm === undefined || algorithm === route.picker.name
        ? route.picker
        : createPicker(algorithm, options),
  };
}

function compileRoute(config: RouteConfig): CompiledRoute {
  const host = config.host?.toLowerCase();
  const wildcard = host?.startsWith('*.') ?? false;
  return {
    config,
    host: wildcard ? host!.slice(1) : host,
    wildcard,
    prefix: config.pathPrefix ?? '/',
    target: undefined,
    cache: undefined,
  };
}

/** hostOf lowercases a Host header and drops its port. */
function hostOf(header: string | undefined): string {
  if (header === undefined) return '';
  const end = header.startsWith('[') ? header.indexOf(']') + 1 : header.indexOf(':');
  return (end > 0 ? header.slice(0, end) : header).toLowerCase();
}

/** Refusal is a request the balancer answers itself instead of forwarding it, and the status it gets. */
export interface Refusal {
  readonly status: 400 | 431 | 501;
  readonly reason: string;
}

/**
 * refusal says why a request that parsed is still not forwarded: an HTTP version other than 1.x
 * in HTTP/1 syntax (a backend would answer it with a 5xx), HTTP/1.1 without Host (RFC 9112 §3.2;
 * Node's own check is off so that the refusal is logged here), or an HTTP/2 request whose Host
 * contradicts its `:authority` (400) or whose header list is over `maxHeaderSize` (431: the limit
 * is advertised in SETTINGS, but a client may send before it has them; HTTP/1.1's parser enforces it).
 * An HTTP/1 request's absolute-form target is rewritten to origin form here (see `toOriginForm`),
 * a Host (or `:authority`) that is not `host[:port]` gets 400 (see `hostRefusal`), its path's dot
 * segments are resolved, over HTTP/2 too (see `removeDotSegments`: 400 when one climbs above the
 * root or hides behind an encoded slash), and a transfer coding other than plain
 * `chunked` gets 501, or 400 when it does not end in `chunked` (see `transferCodingRefusal`). More than one Host line gets 400 (RFC 9112 §3.2).
 */
export function refusal(
  req: Pick<http.IncomingMessage, 'httpVersionMajor' | 'httpVersion' | 'headers' | 'url' | 'rawHeaders'>,
  maxHeaderSize = Number.POSITIVE_INFINITY,
): Refusal | undefined {
  if (req.httpVersionMajor !== 1) {
    // Only the HTTP/2 listener makes these; a "HTTP/2.0" request line on HTTP/1 is refused.
    if (req instanceof Http2Request) {
      if (req.headerListSize > maxHeaderSize)
        return { status: 431, reason: `request header list of ${req.headerListSize} bytes is too large` };
      if (req.refusal !== undefined) return { status: 400, reason: req.refusal };
      const path = hostRefusal(req.headers.host) ?? removeDotSegments(req);
      return path === undefined ? undefined : { status: 400, reason: path };
    }
    return { status: 400, reason: `unsupported HTTP version ${req.httpVersion}` };
  }
  if (req.httpVersion === '1.1' && req.headers.host === undefined)
    return { status: 400, reason: 'HTTP/1.1 request without Host' };
  // Node keeps the first Host in `headers` (what routing reads) and every line in `rawHeaders`
  // (what goes upstream): a backend acting on another one would serve a host the request was not
  // routed for. RFC 9112 §3.2: 400, as NGINX answers.
  if (hostLines(req.rawHeaders) > 1) return { status: 400, reason: 'more than one Host header' };
  const target = toOriginForm(req) ?? hostRefusal(req.headers.host) ?? removeDotSegments(req);
  if (target !== undefined) return { status: 400, reason: target };
  return transferCodingRefusal(req);
}

/**
 * withLockTimeout gives a cache config without `lockTimeout` the balancer's request timeout: a
 * request waiting on another's fill waits no longer than its own backend request could take.
 */
function withLockTimeout(cache: HttpCacheConfig, requestTimeout: number): HttpCacheConfig {
  return cache.lockTimeout === undefined ? { ...cache, lockTimeout: requestTimeout } : cache;
}

function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}

function sendRefusal(res: http.ServerResponse, refused: Refusal): void {
  const body = JSON.stringify({ error: refused.reason });
  res.writeHead(refused.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}

function sendNoRoute(res: http.ServerResponse): void {
  res.writeHead(404, ['Content-Type', 'application/json', 'Content-Length', `${NO_ROUTE.length}`]);
  res.end(NO_ROUTE);
}

function validateConfig(config: BalancerConfig): void {
  createPicker(config.algorithm);
  parseHashKey(config.hashKey);
  validateHealthConfig(config.health);
  if (!Number.isFinite(config.requestTimeout) || config.requestTimeout <= 0) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `requestTimeout must be > 0 ms, got ${config.requestTimeout}`,
    );
  }
  // undici takes 0 for no connect timeout and a timer of 0 or less fires at once: neither is meant.
  if (
    config.connectTimeout !== undefined &&
    (!Number.isFinite(config.connectTimeout) || config.connectTimeout <= 0)
  ) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `connectTimeout must be > 0 ms, got ${config.connectTimeout}`,
    );
  }
  // The request timer runs from the first connect: a connect timeout at or above it never fires, and
  // a connect to a blackholed instance costs the client a 504 instead of a retry elsewhere. The
  // config refuses it (connectTimeoutIssue); a Balancer built in code was let through.
  if (config.connectTimeout !== undefined && config.connectTimeout >= config.requestTimeout) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `connectTimeout (${config.connectTimeout} ms) must be below requestTimeout (${config.requestTimeout} ms): the request timeout would cut the request first, with a 504 instead of a retry on another instance`,
    );
  }
  if (
    config.perTryTimeout !== undefined &&
    (!Number.isFinite(config.perTryTimeout) || config.perTryTimeout <= 0)
  ) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `perTryTimeout must be > 0 ms, got ${config.perTryTimeout}`,
    );
  }
  if (config.perTryTimeout !== undefined && config.perTryTimeout >= config.requestTimeout) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `perTryTimeout (${config.perTryTimeout} ms) must be below requestTimeout (${config.requestTimeout} ms): the request timeout would cut the request first, with a 504 instead of a retry on another instance`,
    );
  }
  // A timer over 2^31-1 ms fires at once (Node takes it for 1 ms): every tunnel closed at its start.
  if (
    config.websocketIdleTimeout !== undefined &&
    !(
      Number.isFinite(config.websocketIdleTimeout) &&
      config.websocketIdleTimeout >= 0 &&
      config.websocketIdleTimeout <= MAX_TIMER_MS
    )
  ) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `websocketIdleTimeout must be 0 (never) or a duration up to ${MAX_TIMER_MS} ms, got ${config.websocketIdleTimeout}`,
    );
  }
  if (config.http2 === true && config.tls === undefined) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      'http2 needs tls: HTTP/2 is offered by ALPN on the TLS listener (cleartext h2c is not supported)',
    );
  }
  // node:http reads a keepAliveTimeout of 0 as no idle timeout at all: connections held for good.
  if (
    config.clientKeepAliveTimeout !== undefined &&
    (!Number.isFinite(config.clientKeepAliveTimeout) || config.clientKeepAliveTimeout <= 0)
  ) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `clientKeepAliveTimeout must be > 0 ms, got ${config.clientKeepAliveTimeout}`,
    );
  }
  if (!Number.isFinite(config.drainTimeout) || config.drainTimeout < 0) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `drainTimeout must be >= 0 ms, got ${config.drainTimeout}`,
    );
  }
}
