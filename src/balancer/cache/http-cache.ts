import type http from 'node:http';
import {
  type BreakerConfig,
  type BreakerState,
  breakerAllow,
  breakerFailure,
  breakerSuccess,
  initialBreakerState,
} from '../../cache/breaker.js';
import type { HttpCacheConfig } from '../../config/types.js';
import { requestIdOf } from '../../log/index.js';
import { gateHead } from '../head-gate.js';
import { forwardRequestHeaders, forwardResponseHeaders, schemeOf } from '../headers.js';
import type { OriginError, OriginRequest, OriginResponse } from '../origin.js';
import { breakResponse, sendJson } from '../respond.js';
import type { BalancerLogger } from '../types.js';
import {
  hostOfKey,
  matchesPrefix,
  matchesUrl,
  type PurgeSelector,
  type PurgeTarget,
  pathOfKey,
  primaryKey,
  type StoredResponse,
  selectVariant,
} from './entry.js';
import { HitForMiss, hitForMissMs } from './hit-for-miss.js';
import { type CacheResult, type HttpCacheMetrics, HttpCacheTelemetry } from './metrics.js';
import {
  ageSeconds,
  conditionalApplies,
  currentAge,
  hasValidator,
  invalidatedTargets,
  isConditional,
  type Lifetime,
  mergeNotModified,
  type NotStoredReason,
  notModified,
  notModifiedSelects,
  type RangeDecision,
  type RequestPolicy,
  rangeDecision,
  rawToHeaders,
  requestHasBody,
  requestPolicy,
  retentionMs,
  type StoreDecision,
  serveDecision,
  staleIfErrorAllows,
  storeDecision,
  supersedesStored,
  tagsOf,
  variantKey,
  varyNames,
  varySeen,
} from './policy.js';
import type { HttpCacheStore, PurgeMark } from './store.js';

/** CacheUpstream is how a cache reaches its route's group. */
export interface CacheUpstream {
  /** fetch makes one bodiless request to a backend of the group (rejects with OriginError). */
  fetch(request: OriginRequest): Promise<OriginResponse>;
  /** pass hands the client's request to the ordinary proxy path, the cache out of the way. */
  pass(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** The balancer is closing: responses carry `Connection: close`. */
  readonly closing: boolean;
  /** The consistent-hash key of a request, when the route's picker hashes. */
  hashKey?(req: http.IncomingMessage): string;
}

/** HttpCacheOptions configure an HttpCache. */
export interface HttpCacheOptions {
  /** The `cache` label of its metrics: `default` or `routes[N]`. */
  name: string;
  config: HttpCacheConfig;
  store: HttpCacheStore;
  metrics: HttpCacheMetrics;
  /** @defaultValue a logger that drops everything */
  logger?: BalancerLogger;
  /** Wall clock, ms since the epoch (HTTP dates are wall-clock times). @defaultValue Date.now */
  now?: () => number;
  /**
   * Told the URLs each unsafe request here invalidated, so the caches of other processes (the
   * data-path workers' own memory caches) can drop theirs too (`invalidate`). A promise holds the
   * request's answer until it settles: until the others have dropped them.
   */
  onInvalidate?: (targets: readonly PurgeTarget[]) => Promise<void> | void;
}

/**
 * FlightOutcome is how one backend fetch for a key ended, as the requests waiting on it learn.
 * `failed`: the backend failed it (no connection, a cut body, a 5xx that may not be stored), which
 * says nothing about the resource: one waiter fetches again for the others.
 */
type FlightOutcome = 'stored' | 'not-stored' | 'stale' | 'failed';

interface Flight {
  readonly key: string;
  readonly promise: Promise<FlightOutcome>;
  /** When the fetch started: anything stored for the key since then came from it (or later). */
  readonly started: number;
  /**
   * An unsafe request to the key succeeded while this fetch ran (RFC 9111 §4.4): its answer may
   * predate the change, so it is served to the requests that asked but not stored.
   */
  invalidated: boolean;
  /** Tags a purge named while this fetch ran: an answer carrying one is not stored either. */
  purgedTags?: Set<string>;
  /** The Vary names and variant key of what it stored, for waiters to tell whether it is theirs. */
  storedVariant?: { readonly vary: readonly string[]; readonly variant: string };
}

interface Client {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
}

type UsableRequest = RequestPolicy & { use: true };

// Never stored: the cache computes Age itself, and these belong to one exchange only.
const NOT_STORED_HEADERS: ReadonlySet<string> = new Set(['age', 'x-cache', 'x-request-id']);
// What a 304 from the cache carries (RFC 9110 15.4.5), besides Age, X-Cache and X-Request-Id. And
// Set-Cookie: it is no representation metadata but the client's own (a stored response never has
// one; a miss answered 304 to the client's validators does), and the 304 of a miss that dropped it
// lost a session cookie the backend set or rotated, where NGINX's 304 keeps it.
const NOT_MODIFIED_HEADERS: ReadonlySet<string> = new Set([
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'last-modified',
  'set-cookie',
  'vary',
]);

// A store that keeps failing (Redis hanging: each command waits out its 1 s timeout) is left alone
// for a while, so requests go straight to the backend instead of each paying that wait; one
// request then probes it.
const STORE_BREAKER: BreakerConfig = { failureThreshold: 3, openMs: 1000 };

// How many fills of other Vary variants a request waits through before it asks for itself: each
// round stores one variant (Varnish's waiting list goes on as long as it takes; a bound keeps a
// key with many variants from queueing one request behind fill after fill).
const VARIANT_ROUNDS = 3;

// Keys remembered as uncacheable at once; a forgotten one only costs one coalesced batch.
const HIT_FOR_MISS_KEYS = 10_000;

// A waiter's lock timeout when the config names none (the balancer gives its request timeout).
const DEFAULT_LOCK_TIMEOUT = 60_000;

// The longest an unsafe request's answer waits for its invalidation to reach the store and the
// other workers (a hanging Redis fails each purge command only after its 1 s timeout).
const INVALIDATE_HOLD_MS = 1000;

const silentLogger: BalancerLogger = { info() {}, warn() {}, error() {} };

/**
 * HttpCache is the HTTP response cache in front of one route: it answers GET/HEAD from its store
 * when RFC 9111 allows, revalidates with ETag/Last-Modified, makes one backend request for many
 * concurrent misses of a key (coalescing), serves stale while revalidating or when the backend
 * fails within the response's windows, and passes everything else to the proxy. Every decision is
 * a pure function of policy.ts; this class only does the I/O.
 */
export class HttpCache {
  readonly name: string;
  readonly #config: HttpCacheConfig;
  readonly #store: HttpCacheStore;
  readonly #metrics: HttpCacheMetrics;
  /** The per-request series of this cache, batched. */
  readonly #telemetry: HttpCacheTelemetry;
  readonly #logger: BalancerLogger;
  readonly #now: () => number;
  readonly #onInvalidate: HttpCacheOptions['onInvalidate'];
  readonly #flights = new Map<string, Flight>();
  /** Hit-for-miss fills: nobody waits on them, but an invalidation must still reach them. */
  readonly #solo = new Set<Flight>();
  readonly #hitForMiss = new HitForMiss(HIT_FOR_MISS_KEYS);
  /** Puts under way, by key: an invalidation purges after them, or it would be overwritten. */
  readonly #storing = new Map<string, Promise<void>>();
  /** Invalidation purges under way: a lookup of a URL they name waits for them. */
  readonly #invalidating = new Set<{ readonly urls: readonly PurgeTarget[]; readonly done: Promise<void> }>();
  #breaker: BreakerState = initialBreakerState();
  #closed: Promise<void> | undefined;

  constructor(options: HttpCacheOptions) {
    this.name = options.name;
    this.#config = options.config;
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#telemetry = new HttpCacheTelemetry(options.metrics, options.name);
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#onInvalidate = options.onInvalidate;
  }

  /** handle answers one client request, from the cache or through `upstream`. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, upstream: CacheUpstream): void {
    this.#handle(req, res, upstream).catch((err: unknown) => {
      this.#logger.error({ cache: this.name, err }, 'http cache failed a request');
      if (res.headersSent) breakResponse(req, res);
      else sendJson(res, 502, Buffer.from(JSON.stringify({ error: 'cache error' })), upstream.closing);
    });
  }

  /** purge removes what the selector names and returns how many keys went. */
  async purge(selector: PurgeSelector): Promise<number> {
    // A fetch under way may carry the answer from before the change the purge is for, and would
    // store it after the purge, a HIT for its whole max-age (as an unsafe request's invalidation).
    // Its URL is matched now; its tags are known once its answer is in.
    for (const flight of [...this.#flights.values(), ...this.#solo]) {
      if (
        selector.urls.some((target) => matchesUrl(flight.key, target)) ||
        selector.prefixes.some((target) => matchesPrefix(flight.key, target))
      )
        this.#retire(flight);
      if (selector.tags.length > 0)
        flight.purgedTags = new Set([...(flight.purgedTags ?? []), ...selector.tags]);
    }
    // A put already under way passed its fetch's purge check before this purge came (a Redis put is
    // two round trips): landing after the purge, it brought the old answer back, a HIT for its whole
    // max-age after the purge had answered. The purge goes after them, as an unsafe request's does
    // (#drop); all of them, since a put's tags are not known here. Each is bounded by the store's
    // command timeout.
    if (this.#storing.size > 0) await Promise.allSettled([...this.#storing.values()]);
    const removed = await this.#store.purge(selector);
    // Marks are per key, without tags (nothing was stored to carry them): a tag purge cannot name one.
    this.#hitForMiss.forget(
      (key) =>
        selector.urls.some((target) => matchesUrl(key, target)) ||
        selector.prefixes.some((target) => matchesPrefix(key, target)),
    );
    this.#metrics.purged.inc({ cache: this.name }, removed);
    this.#updateUsage();
    return removed;
  }

  /**
   * ready waits, at most `timeoutMs`, for the store to connect, so a balancer starts with its
   * shared cache in use; past that it starts anyway (requests go to the backend meanwhile).
   */
  async ready(timeoutMs: number): Promise<void> {
    if (this.#store.ready === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([this.#store.ready().catch(() => undefined), timeout]);
    clearTimeout(timer);
  }

  /** close releases the store; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= this.#store.close();
    return this.#closed;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse, upstream: CacheUpstream): Promise<void> {
    const policy = requestPolicy(req.method, req.headers, requestHasBody(req.rawHeaders));
    // The scheme of the listener the request came in on (TLS or not): the balancer is the edge and
    // drops a client's X-Forwarded-Proto, so no header can choose another scheme's entry.
    const scheme = schemeOf(req.socket);
    const key = primaryKey(keyHost(req.headers.host, req.socket.localPort, scheme), req.url ?? '/', scheme);
    if (!policy.use) {
      if (isUnsafe(req.method)) {
        // At the backend's answer, before the client gets any of it: the other processes' caches
        // (data-path workers) drop the URLs first, and this one's lookups of them wait for the
        // purge. Before, the URLs were dropped once the answer was over, here, and told the other
        // workers after: a GET sent on the POST's answer and taken by another worker still got the
        // old copy (15 of 160 with 2 workers).
        let announced = false;
        gateHead(res, (status, raw) => {
          announced = true;
          return this.#invalidate(key, status, rawToHeaders(raw));
        });
        // An answer the proxy wrote itself (no backend answer went through the gate). On 'close',
        // not 'finish': a client that leaves before its end still saw the backend change the
        // resource. No head sent: no answer to go by.
        res.once('close', () => {
          if (res.headersSent && !announced) void this.#invalidate(key, res.statusCode, res.getHeaders());
        });
      }
      // #pass sets X-Cache with setHeader before the proxy's writeHead(status, rawArray): Node then
      // merges the array into the header map, so #invalidate can read Location with getHeader.
      return this.#pass({ req, res }, upstream, 'BYPASS');
    }
    const stored = await this.#lookup(key, req);
    if (stored !== undefined) {
      const decision = serveDecision(stored, policy, this.#now());
      if (decision.action === 'fresh') return this.#serve({ req, res }, stored, 'HIT', upstream);
      if (decision.action === 'stale') {
        this.#serve({ req, res }, stored, 'STALE', upstream);
        this.#revalidateInBackground(key, req, upstream, policy, stored);
        return;
      }
    }
    if (policy.onlyIfCached) return this.#gatewayTimeout(res, upstream);
    if (stored === undefined && req.method === 'HEAD' && !this.#config.convertHead) {
      // A HEAD response has no body to store; without conversion only GETs fill the cache.
      return this.#pass({ req, res }, upstream, 'MISS');
    }
    await this.#fetchOnce(key, { req, res }, upstream, policy, stored);
  }

  /** fetchOnce makes the backend request for `key`, or waits for the one already under way. */
  async #fetchOnce(
    key: string,
    client: Client,
    upstream: CacheUpstream,
    policy: UsableRequest,
    stored: StoredResponse | undefined,
    round = 1,
    deadline?: number,
  ): Promise<void> {
    if (this.#hitForMiss.active(key, this.#now())) {
      this.#telemetry.hitForMiss.inc();
      return this.#soloFill(key, client, upstream, policy, stored);
    }
    const running = this.#flights.get(key);
    if (running !== undefined) {
      this.#telemetry.coalesced.inc();
      // The wait is bounded through every refill (NGINX's proxy_cache_lock_timeout): past it this
      // request goes to the backend itself, and what it gets is not stored, as in NGINX.
      const until = deadline ?? performance.now() + (this.#config.lockTimeout ?? DEFAULT_LOCK_TIMEOUT);
      const outcome = await waitAtMost(running.promise, until);
      if (client.res.destroyed) return;
      if (outcome === 'timeout') return this.#pass(client, upstream, 'MISS');
      const now = this.#now();
      const after = await this.#lookup(key, client.req);
      // Not a no-cache response: each use is validated with the backend, for the client asking
      // (`public, no-cache` is how a backend authorises every request). Before, the clients that
      // waited on one client's fill were served what the backend had let that one see.
      if (after !== undefined && after.responseTime >= running.started && !after.noCache) {
        // Handed to a waiter, the fill's response is a stored one reused: by its own freshness (RFC
        // 9111 4.2.4), as Varnish, whose waiting list goes to the backend after a fill with no TTL
        // left. One stale on arrival (an upstream cache's Age past its max-age) was served as a HIT
        // to every waiter. The waiter's own request directives are not applied, as before.
        const decision = serveDecision(
          after,
          { ...policy, noCache: false, maxAge: undefined, minFresh: undefined },
          now,
        );
        if (decision.action === 'fresh') return this.#serve(client, after, 'HIT', upstream);
        if (decision.action === 'stale') {
          this.#serve(client, after, 'STALE', upstream);
          this.#revalidateInBackground(key, client.req, upstream, policy, after);
          return;
        }
      }
      if (
        (outcome === 'stale' || outcome === 'failed') &&
        after !== undefined &&
        staleIfErrorAllows(after, now)
      )
        return this.#serve(client, after, 'STALE', upstream);
      // The backend failed the fill: one waiter (the first to get here) fetches again and the others
      // wait on it, as NGINX hands its cache lock to the next request and Varnish wakes one waiter
      // after a failed fetch. Before, every waiter went to the backend at once, a thundering herd
      // on a backend already failing (8 requests on a 503 fill: 7 backend requests together, now 1).
      if (outcome === 'failed') return this.#fetchOnce(key, client, upstream, policy, after, round, until);
      // The fill stored another Vary variant than this request's (gzip where it asks for br): its
      // own is fetched once for all the waiters that want it, and stored, as Varnish's waiting list
      // does after a rush. Before, each went to the backend on its own and none stored its answer:
      // 10 gzip and 10 br requests at once made 11 backend requests, and the next br was a MISS.
      const other = running.storedVariant;
      if (
        outcome === 'stored' &&
        other !== undefined &&
        round < VARIANT_ROUNDS &&
        (client.req.method === 'GET' || this.#config.convertHead) &&
        variantKey(other.vary, client.req.headers) !== other.variant
      )
        return this.#fetchOnce(key, client, upstream, policy, after, round + 1, until);
      // Not storable for everyone (private, Set-Cookie, another variant…): each asks for itself.
      return this.#pass(client, upstream, 'MISS');
    }
    await this.#lead(key, client.req, client, upstream, policy, stored);
  }

  /**
   * soloFill fetches for one client of a key marked uncacheable, coalescing with nobody; what it
   * gets is still stored when cacheable (which ends the mark), so the URL turning cacheable is seen.
   */
  async #soloFill(
    key: string,
    client: Client,
    upstream: CacheUpstream,
    policy: UsableRequest,
    stored: StoredResponse | undefined,
  ): Promise<void> {
    const flight: Flight = {
      key,
      promise: Promise.resolve('failed'),
      started: this.#now(),
      invalidated: false,
    };
    this.#solo.add(flight);
    try {
      await this.#fill(key, client.req, client, upstream, policy, stored, flight);
    } finally {
      this.#solo.delete(flight);
    }
  }

  #revalidateInBackground(
    key: string,
    req: http.IncomingMessage,
    upstream: CacheUpstream,
    policy: UsableRequest,
    stored: StoredResponse,
  ): void {
    if (this.#flights.has(key)) return;
    this.#metrics.backgroundRevalidations.inc({ cache: this.name });
    this.#lead(key, req, undefined, upstream, policy, stored).catch((err: unknown) =>
      this.#logger.warn({ cache: this.name, err }, 'background revalidation failed'),
    );
  }

  /** lead runs the one backend fetch for `key` that concurrent requests wait on. */
  async #lead(
    key: string,
    source: http.IncomingMessage,
    client: Client | undefined,
    upstream: CacheUpstream,
    policy: UsableRequest,
    stored: StoredResponse | undefined,
  ): Promise<void> {
    let settle!: (outcome: FlightOutcome) => void;
    const promise = new Promise<FlightOutcome>((resolve) => {
      settle = resolve;
    });
    const flight: Flight = { key, promise, started: this.#now(), invalidated: false };
    this.#flights.set(key, flight);
    // Once the fill knows nothing will be stored, the waiters (and newcomers) need not sit through
    // its body: a slow or large uncacheable response would otherwise hold them all that long.
    const release = (outcome: FlightOutcome): void => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
      settle(outcome);
    };
    let outcome: FlightOutcome = 'failed';
    try {
      outcome = await this.#fill(key, source, client, upstream, policy, stored, flight, release);
    } finally {
      release(outcome);
    }
  }

  /**
   * fill fetches `source`'s URL (conditionally when a stored response has validators), answers the
   * client if there is one, and stores what may be stored before it resolves. Not `conditional`:
   * the stored response's validators are not sent (a 304 that could not update it came back).
   */
  async #fill(
    key: string,
    source: http.IncomingMessage,
    client: Client | undefined,
    upstream: CacheUpstream,
    policy: UsableRequest,
    stored: StoredResponse | undefined,
    flight: Flight,
    notStoring: (outcome: FlightOutcome) => void = () => {},
    conditional = true,
  ): Promise<FlightOutcome> {
    const forwarded = forwardRequestHeaders(
      source.rawHeaders,
      source.socket.remoteAddress,
      schemeOf(source.socket),
    );
    const headers = withoutConditionals(forwarded.headers);
    if (forwarded.host === undefined) headers.push('Host', localHost(source));
    if (conditional && stored?.etag !== undefined) headers.push('If-None-Match', stored.etag);
    if (conditional && stored?.lastModified !== undefined)
      headers.push('If-Modified-Since', stored.lastModified);
    // Before the request goes: a purge made from here on (in any process) names this fetch's answer.
    const since = await this.#mark();
    const requestTime = this.#now();
    let response: OriginResponse;
    try {
      response = await upstream.fetch({
        method: 'GET',
        path: source.url ?? '/',
        headers,
        ...(upstream.hashKey === undefined ? {} : { key: upstream.hashKey(source) }),
      });
    } catch (err) {
      if (stored !== undefined && staleIfErrorAllows(stored, this.#now())) {
        if (client !== undefined) this.#serve(client, stored, 'STALE', upstream);
        return 'stale';
      }
      const failed = err as OriginError;
      if (client !== undefined) {
        if (typeof failed.status !== 'number') throw err;
        this.#count('MISS');
        client.res.setHeader('X-Request-Id', forwarded.requestId);
        client.res.setHeader('X-Cache', 'MISS');
        sendJson(client.res, failed.status, failed.body, upstream.closing);
      }
      return 'failed';
    }
    const responseTime = this.#now();
    if (response.status >= 500 && stored !== undefined && staleIfErrorAllows(stored, responseTime)) {
      response.body.resume();
      if (client !== undefined) this.#serve(client, stored, 'STALE', upstream);
      return 'stale';
    }
    if (response.status === 304 && stored !== undefined && conditional) {
      response.body.resume();
      // A 304 naming another representation (a strong ETag other than the stored one) must not
      // update the stored copy (RFC 9111 4.3.4), nor can that copy answer: ask for the whole one.
      if (!notModifiedSelects(stored, response.headers))
        return this.#fill(key, source, client, upstream, policy, stored, flight, notStoring, false);
      const updates = storableHeaders(response.rawHeaders);
      // A 304 without a Date is dated when received (RFC 9110 6.6.1). Before, the stored copy kept
      // its first Date, so it was as old as that after the 304 (11 s for max-age=10): stale at once,
      // and every request went to the backend again, never a HIT.
      if (response.headers.date === undefined) updates.push('Date', new Date(responseTime).toUTCString());
      const merged = mergeNotModified(stored.headers, updates);
      const mergedHeaders = rawToHeaders(merged);
      const decision = ifVarySeen(
        storeDecision(
          {
            status: stored.status,
            request: policy,
            responseHeaders: { ...mergedHeaders, age: response.headers.age },
            requestTime,
            responseTime,
          },
          this.#config,
        ),
        mergedHeaders,
        source.rawHeaders,
        headers,
      );
      const refreshed = this.#build(
        source,
        stored.status,
        stored.statusMessage,
        merged,
        stored.body,
        decision,
        responseTime,
      );
      if (client !== undefined) this.#serve(client, refreshed, 'REVALIDATED', upstream);
      if (!decision.store) {
        this.#markUncacheable(key, decision.reason);
        if (supersedesStored(decision.reason)) await this.#supersede(key, stored);
      }
      if (!decision.store || purgedMeanwhile(flight, refreshed)) return 'not-stored';
      await this.#stored(key, refreshed, since);
      flight.storedVariant = { vary: refreshed.vary, variant: refreshed.variant };
      return 'stored';
    }

    const decision = ifVarySeen(
      storeDecision(
        {
          status: response.status,
          request: policy,
          responseHeaders: response.headers,
          requestTime,
          responseTime,
        },
        this.#config,
      ),
      response.headers,
      source.rawHeaders,
      headers,
    );
    // A 5xx (not 501) is the backend failing, not the resource's answer.
    const failed = !decision.store && decision.reason === 'Status' && response.status >= 500;
    // Marked before the waiters are released, so requests arriving from then on skip the queue.
    if (!decision.store) {
      this.#markUncacheable(key, decision.reason);
      notStoring(failed ? 'failed' : 'not-stored');
      if (stored !== undefined && supersedesStored(decision.reason)) await this.#supersede(key, stored);
    }
    const cleaned = storableHeaders(response.rawHeaders);
    // A HEAD filled with a GET (convert_head) is answered as soon as its head is in, as NGINX does.
    // Only a response to be stored that names no length (chunked) waits for the body, so its head
    // can carry the Content-Length; past max_object_size it is answered without. Before, every
    // converted HEAD waited for the whole body: a HEAD of a large or slow download (hit-for-miss
    // sends each one to the backend again) was answered after all of it, or cut at request_timeout.
    const headFill = client?.req.method === 'HEAD';
    let headPending = headFill && decision.store && !hasHeader(cleaned, 'content-length');
    const answerHead = (length: string[]): void => {
      if (!headPending) return;
      headPending = false;
      this.#startMiss(client!, response, [...cleaned, ...length], forwarded.requestId, upstream);
    };
    // A range is cut from the whole body as it streams by, when its length is known up front.
    const range =
      client !== undefined && !headFill && client.req.headers.range !== undefined
        ? rangeDecision(client.req.method, client.req.headers, {
            status: response.status,
            headers: response.headers,
            size: contentLength(response.headers['content-length']),
          })
        : undefined;
    // For a HEAD answered now, startMiss ends the response and says no body follows.
    const writing =
      client !== undefined && !headPending
        ? this.#startMiss(client, response, cleaned, forwarded.requestId, upstream, range)
        : false;
    const body = await this.#readBody(
      response,
      decision.store,
      writing ? client : undefined,
      range?.action === 'partial' ? range : undefined,
      () => {
        this.#markUncacheable(key, 'TooLarge');
        notStoring('not-stored');
        answerHead([]);
      },
    );
    if (body === 'broken') {
      if (headPending) breakResponse(client!.req, client!.res);
      return 'failed';
    }
    answerHead(body === undefined ? [] : ['Content-Length', String(body.length)]);
    // Kept for the store until past max_object_size: the resource outgrew what is stored of it.
    if (decision.store && body === undefined && stored !== undefined) await this.#supersede(key, stored);
    if (failed) return 'failed';
    if (!decision.store || body === undefined) return 'not-stored';
    const built = this.#build(
      source,
      response.status,
      response.statusMessage,
      cleaned,
      body,
      decision,
      responseTime,
    );
    if (purgedMeanwhile(flight, built)) return 'not-stored';
    await this.#stored(key, built, since);
    flight.storedVariant = { vary: built.vary, variant: built.variant };
    return 'stored';
  }

  /**
   * supersede removes the stored variant a revalidation was for, once its answer said the resource
   * may not be stored (supersedesStored). Before, the old copy stayed: a background revalidation
   * answered `private` left it served STALE for the rest of its stale-while-revalidate window.
   * A copy stored meanwhile by a hit-for-miss fill of the same variant may go too (a refill).
   */
  async #supersede(key: string, stored: StoredResponse): Promise<void> {
    try {
      if (await this.#store.remove(key, stored.variant)) {
        this.#metrics.superseded.inc({ cache: this.name });
        this.#updateUsage();
      }
    } catch (err) {
      this.#storeFailed('purge', err);
    }
  }

  /** markUncacheable starts hit-for-miss for `key` when why nothing was stored is the URL's. */
  #markUncacheable(key: string, reason: NotStoredReason): void {
    this.#hitForMiss.mark(key, this.#now(), hitForMissMs(reason, this.#config.hitForMiss));
  }

  /** stored puts a cacheable response, which also ends any hit-for-miss of its key. */
  async #stored(key: string, response: StoredResponse, since: PurgeMark | undefined): Promise<void> {
    this.#hitForMiss.clear(key);
    const put = this.#put(key, response, since);
    this.#storing.set(key, put);
    try {
      await put;
    } finally {
      if (this.#storing.get(key) === put) this.#storing.delete(key);
    }
  }

  /**
   * startMiss writes the response head of a miss to the client and says whether the body follows:
   * not for HEAD, not when the client's own validators match (it gets a 304 instead), and not for
   * an unsatisfiable range (416); for a satisfiable one the head is a 206's.
   */
  #startMiss(
    client: Client,
    response: OriginResponse,
    cleaned: readonly string[],
    requestId: string,
    upstream: CacheUpstream,
    range?: RangeDecision,
  ): boolean {
    this.#count('MISS');
    const { req, res } = client;
    if (res.destroyed) return false;
    const validators = {
      etag: header(response.headers.etag),
      lastModified: header(response.headers['last-modified']),
    };
    if (
      conditionalApplies(response.status) &&
      isConditional(req.headers) &&
      notModified(req.headers, validators)
    ) {
      res.writeHead(304, [
        ...notModifiedHeaders(cleaned),
        ...this.#extra('MISS', requestId, undefined, upstream),
      ]);
      res.end();
      return false;
    }
    // The backend's Age as the cache reads it for freshness (ageSeconds): before, it went through
    // Number(), and `-5`, `1e3`, `0x10` or 20 digits reached the client as `Age: -5`, `1000`, `16`,
    // `100000000000000000000` on a MISS, where the same response's HIT said 0 (or 2^31).
    const extra = this.#extra('MISS', requestId, ageSeconds(response.headers.age), upstream);
    if (range?.action === 'unsatisfiable') {
      this.#unsatisfiable(res, range.size, 'MISS', requestId, upstream);
      return false;
    }
    if (range?.action === 'partial') {
      res.writeHead(206, [...partialHeaders(cleaned, range), ...extra]);
      return true;
    }
    res.writeHead(response.status, response.statusMessage, [...cleaned, ...extra]);
    if (req.method === 'HEAD') {
      res.end();
      return false;
    }
    return true;
  }

  /**
   * readBody reads the backend body to its end, streaming it to `client` as it comes (with
   * backpressure once no copy is kept) and keeping a copy up to the object size limit when
   * `keep`. With `slice`, the client gets only those bytes and its response ends after the last
   * (the rest is still read, for the store). Resolves with the copy, undefined when none was
   * kept, or 'broken' when the backend cut the body short (the client's response is then cut
   * too, so it cannot mistake it as whole).
   */
  #readBody(
    response: OriginResponse,
    keep: boolean,
    client: Client | undefined,
    slice?: { readonly start: number; readonly end: number },
    overLimit: () => void = () => {},
  ): Promise<Buffer | undefined | 'broken'> {
    const { body } = response;
    const res = client?.res;
    const limit = this.#config.maxObjectSize;
    let chunks: Buffer[] | undefined = keep ? [] : undefined;
    let size = 0;
    let offset = 0;
    const open = (): boolean => res !== undefined && !res.destroyed && !res.writableEnded;
    // A client that leaves must not stall the fill others may be waiting on.
    res?.once('close', () => body.resume());
    return new Promise((resolve) => {
      body.on('data', (chunk: Buffer) => {
        if (chunks !== undefined) {
          size += chunk.length;
          if (size > limit) {
            chunks = undefined;
            overLimit();
          } else chunks.push(chunk);
        }
        const from = offset;
        offset += chunk.length;
        if (!open()) return;
        // While the body is kept for the store it is in memory anyway: a client reading slowly
        // (or not at all) must not pace the fill that the coalesced waiters wait on. Past the size
        // limit nothing is kept and nobody waits, so the backend is paced by the client again.
        const pace = (): void => {
          if (chunks !== undefined) return;
          body.pause();
          res!.once('drain', () => body.resume());
        };
        if (slice === undefined) {
          if (!res!.write(chunk)) pace();
          return;
        }
        const part = chunk.subarray(Math.max(0, slice.start - from), Math.max(0, slice.end + 1 - from));
        // Once the range is sent the client is done: no backpressure from it holds up the fill.
        if (offset > slice.end) res!.end(part);
        else if (part.length > 0 && !res!.write(part)) pace();
      });
      body.on('end', () => {
        if (open()) res!.end();
        resolve(chunks === undefined ? undefined : Buffer.concat(chunks, size));
      });
      body.on('close', () => {
        if (body.complete) return;
        if (res !== undefined && !res.writableEnded) breakResponse(client!.req, res);
        resolve('broken');
      });
      body.on('error', () => {});
    });
  }

  #build(
    source: http.IncomingMessage,
    status: number,
    statusMessage: string,
    headers: string[],
    body: Buffer,
    decision: ReturnType<typeof storeDecision>,
    responseTime: number,
  ): StoredResponse {
    const parsed = rawToHeaders(headers);
    const names = varyNames(parsed.vary);
    const vary = names === '*' ? [] : names;
    const lifetime: Lifetime = decision.store ? decision : UNSTORED;
    return {
      status,
      statusMessage,
      headers,
      body,
      tags: tagsOf(parsed, this.#config.tagHeader),
      vary,
      variant: variantKey(vary, source.headers),
      etag: header(parsed.etag),
      lastModified: header(parsed['last-modified']),
      responseTime,
      freshFor: lifetime.freshFor,
      source: lifetime.source,
      initialAge: lifetime.initialAge,
      staleWhileRevalidate: lifetime.staleWhileRevalidate,
      staleIfError: lifetime.staleIfError,
      noCache: lifetime.noCache,
      mustRevalidate: lifetime.mustRevalidate,
      expiresAt: responseTime + retentionMs(lifetime, hasValidator(parsed), this.#config.keepStale),
    };
  }

  async #lookup(key: string, req: http.IncomingMessage): Promise<StoredResponse | undefined> {
    for (const pending of this.#invalidating)
      if (pending.urls.some((url) => matchesUrl(key, url))) await pending.done;
    if (!this.#storeAllowed()) return undefined;
    let variants: StoredResponse[];
    try {
      variants = await this.#store.get(key, this.#now(), (vary) => variantKey(vary, req.headers));
      this.#breaker = breakerSuccess(this.#breaker).state;
    } catch (err) {
      this.#storeFailed('get', err);
      return undefined;
    }
    return selectVariant(variants, (vary) => variantKey(vary, req.headers));
  }

  /**
   * mark reads a shared store's purge mark before a fetch (see HttpCacheStore.mark); undefined for
   * a store of this process alone, or when the store fails (the put is then unchecked, as before).
   * Its success is reported to the breaker as a lookup's is: when the read was the half-open probe,
   * unreported, the probe stayed "in flight" for good and the store was never used again.
   */
  async #mark(): Promise<PurgeMark | undefined> {
    if (this.#store.mark === undefined || !this.#storeAllowed()) return undefined;
    try {
      const mark = await this.#store.mark();
      this.#breaker = breakerSuccess(this.#breaker).state;
      return mark;
    } catch (err) {
      this.#storeFailed('get', err);
      return undefined;
    }
  }

  async #put(key: string, response: StoredResponse, since: PurgeMark | undefined): Promise<void> {
    if (!this.#storeAllowed()) return;
    try {
      await this.#store.put(key, response, this.#now(), since);
      this.#breaker = breakerSuccess(this.#breaker).state;
      this.#telemetry.stores.inc();
      this.#updateUsage();
    } catch (err) {
      this.#storeFailed('put', err);
    }
  }

  /**
   * invalidate drops stored responses after an unsafe request succeeded (RFC 9111 4.4): a POST,
   * PUT, PATCH or DELETE that changed the resource makes the copy here wrong, and so are those of
   * the URLs its answer names in Location and Content-Location, when on the same host. The other
   * processes with caches of their own are told through `onInvalidate`, whose promise (returned)
   * holds the answer until they have dropped them.
   */
  #invalidate(
    key: string,
    status: number,
    headers: http.IncomingHttpHeaders | http.OutgoingHttpHeaders,
  ): Promise<void> | undefined {
    const host = hostOfKey(key);
    const locations = [...headerValues(headers.location), ...headerValues(headers['content-location'])];
    const urls = invalidatedTargets(status, host, pathOfKey(key), locations);
    if (urls.length === 0) return undefined;
    // The store's purge too: a Redis store is read by other balancers (and workers), whose lookups
    // do not wait for this process's purge. Before, the answer went out with the purge still on its
    // way, and a GET sent on it to another balancer sharing the store read the old copy (5 of 60).
    const purged = this.#drop(urls, true);
    const told = this.#onInvalidate?.(urls);
    return holdAtMost(Promise.all([purged, told]), INVALIDATE_HOLD_MS);
  }

  /**
   * invalidate drops what an unsafe request in another process invalidated (its `onInvalidate`):
   * fetches under way here are not stored, and a store of this process's own (memory) loses the
   * URLs. A shared (Redis) store was purged by the process that saw the request.
   */
  invalidate(targets: readonly PurgeTarget[]): void {
    if (targets.length === 0) return;
    this.#drop(targets, this.#store.kind === 'memory');
  }

  /**
   * retire marks a fetch under way as invalidated (its answer is served to the requests that asked
   * but not stored) and ends coalescing on it: a request from now on fetches anew, and stores what
   * it gets. Before, it waited for the old fetch (on a slow backend, up to lock_timeout), then went
   * to the backend alone and stored nothing, so the next request was another MISS.
   */
  #retire(flight: Flight): void {
    flight.invalidated = true;
    if (this.#flights.get(flight.key) === flight) this.#flights.delete(flight.key);
  }

  /** drop is #invalidate's work, here and for other processes; with `purgeStore`, resolves once the store's purge is done. */
  #drop(urls: readonly PurgeTarget[], purgeStore: boolean): Promise<void> | undefined {
    // A fetch under way may carry the answer from before the change; the purge below cannot reach
    // what it stores afterwards.
    for (const flight of [...this.#flights.values(), ...this.#solo]) {
      if (urls.some((url) => matchesUrl(flight.key, url))) this.#retire(flight);
    }
    if (!purgeStore) return undefined;
    // A put of one of these URLs already sent (a Redis put is two round trips; the fill's client
    // has its answer before it lands, and may POST at once) would land after the purge and bring
    // the old answer back: the purge goes after it. And a lookup of these URLs waits for the
    // purge, so a GET sent once the POST's answer is in cannot read the entry before it goes.
    // Before, 11 of 200 POST-then-GET rounds on a Redis store got the old copy.
    const puts = [...this.#storing].filter(([key]) => urls.some((url) => matchesUrl(key, url)));
    // Matched as a host purge: a POST to `shop:6666` also drops `shop`'s copy (more refills,
    // never a stale answer).
    const done = Promise.allSettled(puts.map(([, put]) => put))
      .then(() => this.#store.purge({ urls, prefixes: [], tags: [] }))
      .then(
        (removed) => {
          this.#metrics.invalidated.inc({ cache: this.name }, removed);
          this.#updateUsage();
        },
        (err: unknown) => this.#storeFailed('purge', err),
      );
    const pending = { urls, done };
    this.#invalidating.add(pending);
    done.finally(() => this.#invalidating.delete(pending));
    return done;
  }

  /** storeAllowed asks the breaker whether the store gets this get or put (purges always do). */
  #storeAllowed(): boolean {
    const step = breakerAllow(this.#breaker, performance.now(), STORE_BREAKER);
    this.#breaker = step.state;
    return step.allowed;
  }

  #storeFailed(op: 'get' | 'put' | 'purge', err: unknown): void {
    if (op !== 'purge') this.#breaker = breakerFailure(this.#breaker, performance.now(), STORE_BREAKER).state;
    this.#metrics.errors.inc({ cache: this.name, op });
    this.#logger.warn({ cache: this.name, op, err: (err as Error).message }, 'http cache store failed');
  }

  #updateUsage(): void {
    const usage = this.#store.usage();
    if (usage === undefined) return;
    this.#telemetry.storedBytes.set(usage.bytes);
    this.#telemetry.storedEntries.set(usage.entries);
  }

  #serve(client: Client, stored: StoredResponse, result: CacheResult, upstream: CacheUpstream): void {
    const { req, res } = client;
    this.#count(result);
    if (res.destroyed) return;
    const age = currentAge(stored, this.#now()) / 1000;
    const extra = this.#extra(result, requestIdOf(req.headers), age, upstream);
    if (conditionalApplies(stored.status) && isConditional(req.headers) && notModified(req.headers, stored)) {
      res.writeHead(304, [...notModifiedHeaders(stored.headers), ...extra]);
      res.end();
      return;
    }
    const range =
      req.headers.range === undefined
        ? undefined
        : rangeDecision(req.method, req.headers, {
            status: stored.status,
            headers: rawToHeaders(stored.headers),
            size: stored.body.length,
          });
    if (range?.action === 'unsatisfiable') {
      this.#unsatisfiable(res, range.size, result, requestIdOf(req.headers), upstream);
      return;
    }
    if (range?.action === 'partial') {
      res.writeHead(206, [...partialHeaders(stored.headers, range), ...extra]);
      res.end(stored.body.subarray(range.start, range.end + 1));
      return;
    }
    const headers = [...stored.headers, ...extra];
    if (!hasHeader(stored.headers, 'content-length') && stored.status !== 204 && stored.status !== 304)
      headers.push('Content-Length', String(stored.body.length));
    res.writeHead(stored.status, stored.statusMessage, headers);
    res.end(req.method === 'HEAD' ? undefined : stored.body);
  }

  /**
   * unsatisfiable answers a range no byte of the body satisfies (RFC 9110 15.5.17) with the length
   * there is; none of the stored headers, so nothing downstream stores the 416 for the URL.
   */
  #unsatisfiable(
    res: http.ServerResponse,
    size: number,
    result: CacheResult,
    requestId: string,
    upstream: CacheUpstream,
  ): void {
    res.writeHead(416, [
      'Content-Range',
      `bytes */${size}`,
      'Content-Length',
      '0',
      ...this.#extra(result, requestId, undefined, upstream),
    ]);
    res.end();
  }

  /** gatewayTimeout answers an `only-if-cached` request the cache cannot serve (RFC 9111 5.2.1.7). */
  #gatewayTimeout(res: http.ServerResponse, upstream: CacheUpstream): void {
    this.#count('MISS');
    res.setHeader('X-Cache', 'MISS');
    const body = { error: 'only-if-cached: no stored response can answer this request' };
    sendJson(res, 504, Buffer.from(JSON.stringify(body)), upstream.closing);
  }

  #pass(client: Client, upstream: CacheUpstream, result: CacheResult): void {
    this.#count(result);
    client.res.setHeader('X-Cache', result);
    upstream.pass(client.req, client.res);
  }

  #extra(
    result: CacheResult,
    requestId: string,
    ageSeconds: number | undefined,
    upstream: CacheUpstream,
  ): string[] {
    const extra = ['X-Cache', result, 'X-Request-Id', requestId];
    if (ageSeconds !== undefined && Number.isFinite(ageSeconds))
      extra.push('Age', String(Math.floor(ageSeconds)));
    if (upstream.closing) extra.push('Connection', 'close');
    return extra;
  }

  #count(result: CacheResult): void {
    this.#telemetry.requests[result].inc();
  }
}

const UNSTORED: Lifetime = {
  freshFor: 0,
  source: 'default',
  initialAge: 0,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  noCache: true,
  mustRevalidate: true,
};

/**
 * waitAtMost settles with `promise`'s outcome, or with `timeout` once `deadline` (performance.now()
 * time) passes first.
 */
async function waitAtMost(
  promise: Promise<FlightOutcome>,
  deadline: number,
): Promise<FlightOutcome | 'timeout'> {
  const left = deadline - performance.now();
  if (left <= 0) return 'timeout';
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), left);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** holdAtMost resolves once `work` settles, or after `ms` if that comes first. */
function holdAtMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  return Promise.race([settled, bound]).finally(() => clearTimeout(timer));
}

/** purgedMeanwhile says whether an invalidation or a purge named a fetch's answer while it ran. */
function purgedMeanwhile(flight: Flight, response: StoredResponse): boolean {
  const tags = flight.purgedTags;
  return flight.invalidated || (tags !== undefined && response.tags.some((tag) => tags.has(tag)));
}

/**
 * ifVarySeen keeps a decision to store only when the backend got the response's Vary headers as
 * the client sent them (varySeen): the stored copy is found by the client's values.
 */
function ifVarySeen(
  decision: StoreDecision,
  response: http.IncomingHttpHeaders,
  client: readonly string[],
  sent: readonly string[],
): StoreDecision {
  if (!decision.store) return decision;
  const names = varyNames(response.vary);
  if (names === '*' || varySeen(names, client, sent)) return decision;
  return { store: false, reason: 'VaryUnseen' };
}

/** storableHeaders is a backend's raw header list without hop-by-hop fields, Age, X-Cache and X-Request-Id. */
function storableHeaders(raw: readonly string[]): string[] {
  const forwarded = forwardResponseHeaders(raw);
  const out: string[] = [];
  for (let i = 0; i < forwarded.length; i += 2) {
    if (!NOT_STORED_HEADERS.has(forwarded[i]!.toLowerCase())) out.push(forwarded[i]!, forwarded[i + 1]!);
  }
  return out;
}

function notModifiedHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (NOT_MODIFIED_HEADERS.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

// The cache asks for whole responses, then answers the client's own validators and range itself
// (as NGINX does with proxy_cache): a stored whole 200 can answer every later range.
// Nor does a fill carry what a client claims about the request's origin or method, which the key
// does not hold: its answer is everyone's. The balancer is the edge and already drops a client's
// X-Forwarded-Host and X-Forwarded-Proto (and, since, Forwarded); `Forwarded: host=evil.example`
// (RFC 7239, read by Spring, Django, ASP.NET…) reached the backend, and its redirect to
// evil.example was stored for the URL and served to every client. The same for the port, the path prefix and the URL
// rewrites frameworks honour, and the method overrides (a GET answered as a DELETE).
const CLIENT_ONLY_HEADERS: ReadonlySet<string> = new Set([
  'if-none-match',
  'if-modified-since',
  'range',
  'if-range',
  'forwarded',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'x-host',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

function withoutConditionals(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!CLIENT_ONLY_HEADERS.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/**
 * partialHeaders are a 206's headers: the whole response's (validators, Cache-Control, Date,
 * Content-Type… as RFC 9110 15.3.7 asks) with Content-Length and Content-Range for the range.
 */
function partialHeaders(
  raw: readonly string[],
  range: { start: number; end: number; size: number },
): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower !== 'content-length' && lower !== 'content-range') out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('Content-Range', `bytes ${range.start}-${range.end}/${range.size}`);
  out.push('Content-Length', String(range.end - range.start + 1));
  return out;
}

/** contentLength reads a Content-Length header; undefined when absent or not a plain number. */
function contentLength(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
}

/** headerValues lists what `getHeader` returned, as strings. */
function headerValues(value: string | number | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...value] : [String(value)];
}

// Methods whose success may change the resource (RFC 9110 9.2.1); OPTIONS and TRACE are safe.
function isUnsafe(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE';
}

function hasHeader(raw: readonly string[], lower: string): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lower) return true;
  return false;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** hostOf lowercases a Host header and drops its port. */
export function hostOf(value: string | undefined): string {
  if (value === undefined) return '';
  const end = value.startsWith('[') ? value.indexOf(']') + 1 : value.indexOf(':');
  return (end > 0 ? value.slice(0, end) : value).toLowerCase();
}

/**
 * keyHost is the host part of a request's cache key: the Host lowercased, its port dropped only
 * when it is the port the client connected to or the scheme's default. The backend sees the Host
 * as sent and may echo it (redirects, absolute links); keying `shop:6666` as `shop` would let one
 * request store a response built for a port nobody listens on and serve it to everyone (the
 * "unkeyed port" poisoning). Normal traffic keys as `shop`, so purges by host still match it.
 */
export function keyHost(value: string | undefined, localPort: number | undefined, scheme: string): string {
  const host = hostOf(value);
  const port = value === undefined ? '' : value.slice(value.lastIndexOf(']') + 1).split(':')[1];
  if (
    port === undefined ||
    port === '' ||
    port === String(localPort) ||
    port === (scheme === 'https' ? '443' : '80')
  )
    return host;
  return `${host}:${port}`;
}

function localHost(req: http.IncomingMessage): string {
  const host = req.socket.localAddress ?? 'localhost';
  return host.includes(':') ? `[${host}]:${req.socket.localPort}` : `${host}:${req.socket.localPort}`;
}
