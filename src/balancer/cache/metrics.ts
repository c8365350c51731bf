import { Counter, Gauge, type Registry } from 'prom-client';
import { type BatchedCounter, type BatchedGauge, batchedCounter, batchedGauge } from '../../metrics/index.js';

/** CacheResult is the `X-Cache` value of a response and the `result` label of the request series. */
export type CacheResult = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS';

/**
 * HttpCacheMetrics are the HTTP response cache's series, shared by every cache on a registry and
 * told apart by the `cache` label (`default`, or `routes[N]`).
 */
export interface HttpCacheMetrics {
  /** Requests through the cache by result (hit, miss, stale, revalidated, bypass). */
  readonly requests: Counter<'cache' | 'result'>;
  /** Requests that waited for another request's backend fetch instead of making their own. */
  readonly coalesced: Counter<'cache'>;
  /** Requests sent straight to the backend, uncoalesced, because their key was marked uncacheable. */
  readonly hitForMiss: Counter<'cache'>;
  /** Background revalidations started for stale-while-revalidate. */
  readonly backgroundRevalidations: Counter<'cache'>;
  /** Responses stored (fills and refreshes after a 304). */
  readonly stores: Counter<'cache'>;
  /** Store failures by operation (`get`, `put`, `purge`); the request then goes to the backend. */
  readonly errors: Counter<'cache' | 'op'>;
  /** Keys removed by purge calls. */
  readonly purged: Counter<'cache'>;
  /** Keys removed because an unsafe request (POST, PUT, PATCH, DELETE…) to them succeeded. */
  readonly invalidated: Counter<'cache'>;
  /** Stored responses removed because their revalidation's answer may not be stored (no-store, private…). */
  readonly superseded: Counter<'cache'>;
  /** Bytes held by a memory store (approximate: bodies, headers, keys). */
  readonly storedBytes: Gauge<'cache'>;
  /** Keys held by a memory store. */
  readonly storedEntries: Gauge<'cache'>;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labels: L[]): Counter<L> {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames: labels, registers: [registry] })
  );
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labels: L[]): Gauge<L> {
  return (
    (registry.getSingleMetric(name) as Gauge<L> | undefined) ??
    new Gauge({ name, help, labelNames: labels, registers: [registry] })
  );
}

/** httpCacheMetrics returns the cache series on `registry`, creating them the first time. */
export function httpCacheMetrics(registry: Registry): HttpCacheMetrics {
  return {
    requests: counter(
      registry,
      'scaleplane_http_cache_requests_total',
      'Requests through the HTTP response cache, by result (X-Cache).',
      ['cache', 'result'],
    ),
    coalesced: counter(
      registry,
      'scaleplane_http_cache_coalesced_total',
      'Requests that waited for a concurrent backend fetch of the same key instead of making one.',
      ['cache'],
    ),
    hitForMiss: counter(
      registry,
      'scaleplane_http_cache_hit_for_miss_total',
      'Requests sent to the backend at once, not coalesced, because their key was recently uncacheable.',
      ['cache'],
    ),
    backgroundRevalidations: counter(
      registry,
      'scaleplane_http_cache_background_revalidations_total',
      'Background revalidations started while serving stale (stale-while-revalidate).',
      ['cache'],
    ),
    stores: counter(registry, 'scaleplane_http_cache_stores_total', 'Responses stored or refreshed.', [
      'cache',
    ]),
    errors: counter(
      registry,
      'scaleplane_http_cache_errors_total',
      'HTTP cache store failures by operation; the backend answers instead.',
      ['cache', 'op'],
    ),
    purged: counter(registry, 'scaleplane_http_cache_purged_total', 'Cache keys removed by purge calls.', [
      'cache',
    ]),
    invalidated: counter(
      registry,
      'scaleplane_http_cache_invalidated_total',
      'Cache keys removed because a successful unsafe request named them (target, Location, Content-Location).',
      ['cache'],
    ),
    superseded: counter(
      registry,
      'scaleplane_http_cache_superseded_total',
      'Stored responses removed because the answer to their revalidation may not be stored (no-store, private, Set-Cookie…).',
      ['cache'],
    ),
    storedBytes: gauge(
      registry,
      'scaleplane_http_cache_stored_bytes',
      'Approximate bytes held by a memory HTTP cache.',
      ['cache'],
    ),
    storedEntries: gauge(
      registry,
      'scaleplane_http_cache_stored_entries',
      'Keys held by a memory HTTP cache.',
      ['cache'],
    ),
  };
}

const RESULTS: readonly CacheResult[] = ['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS'];

/**
 * HttpCacheTelemetry is one cache's children of the series its requests move, resolved once. The
 * ones a request can move (its result, coalescing, hit-for-miss, a store and the memory usage it
 * changes) are batched (src/metrics/batched.ts), as the balancer's own per-request series:
 * prom-client's `inc({cache, result})` validates the labels and builds their hash string at every
 * call. They reach prom-client whenever the metric is read (scrape, worker snapshot), so what is
 * read is the same. Purges, invalidations, errors and background revalidations are rare and go
 * straight to `metrics`.
 */
export class HttpCacheTelemetry {
  readonly requests: Readonly<Record<CacheResult, BatchedCounter>>;
  readonly coalesced: BatchedCounter;
  readonly hitForMiss: BatchedCounter;
  readonly stores: BatchedCounter;
  readonly storedBytes: BatchedGauge;
  readonly storedEntries: BatchedGauge;

  constructor(metrics: HttpCacheMetrics, cache: string) {
    this.requests = Object.fromEntries(
      RESULTS.map((result) => [result, batchedCounter(metrics.requests, { cache, result })]),
    ) as Record<CacheResult, BatchedCounter>;
    this.coalesced = batchedCounter(metrics.coalesced, { cache });
    this.hitForMiss = batchedCounter(metrics.hitForMiss, { cache });
    this.stores = batchedCounter(metrics.stores, { cache });
    this.storedBytes = batchedGauge(metrics.storedBytes, { cache });
    this.storedEntries = batchedGauge(metrics.storedEntries, { cache });
  }
}
