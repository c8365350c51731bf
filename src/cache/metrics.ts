import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * CacheMetrics are the cache's Prometheus series. Several caches may share one registry: the series
 * are created once per registry and told apart by the `cache` label.
 */
export interface CacheMetrics {
  /** Reads answered by a tier (`memory`, `redis`), stale serves included. */
  readonly hits: Counter<'cache' | 'tier'>;
  /** Reads a tier answered with nothing (the key absent, expired or deleted). */
  readonly misses: Counter<'cache' | 'tier'>;
  /**
   * Reads that got no answer from a tier: Redis down, its breaker open, or no reply within the
   * command timeout. Neither hits nor misses: counted as misses, an outage read as a collapse of the
   * hit rate.
   */
  readonly unavailable: Counter<'cache' | 'tier'>;
  /** Values served past their TTL, by reason (`revalidate`, `error`, `timeout`, `lock_timeout`). */
  readonly staleServes: Counter<'cache' | 'reason'>;
  /** Loader calls by outcome (`ok`, `error`, `timeout`: abandoned after `hardTimeout`). */
  readonly loaderCalls: Counter<'cache' | 'outcome'>;
  /** Failures per tier (`memory`, `redis`, `bus`, `serializer`, `loader`); never surfaced to callers. */
  readonly errors: Counter<'cache' | 'tier'>;
  /** 1 while the Redis tier takes commands (connected, breaker closed), else 0. */
  readonly redisUp: Gauge<'cache'>;
  /** Invalidations applied to the memory tier, by source (`local`, `remote`). */
  readonly invalidations: Counter<'cache' | 'source'>;
  /** Redis writes dropped because the offline queue was full. */
  readonly offlineDropped: Counter<'cache'>;
  /** Entries in the memory tier. */
  readonly memoryEntries: Gauge<'cache'>;
  /** Approximate bytes in the memory tier. */
  readonly memoryBytes: Gauge<'cache'>;
}

/** A cache's counts that have not reached its registry yet are handed over when it is scraped. */
type Flush = () => void;
const pendingFlushes = new WeakMap<Registry, Set<Flush>>();

function flushesOf(registry: Registry): Set<Flush> {
  let flushes = pendingFlushes.get(registry);
  if (flushes === undefined) {
    flushes = new Set();
    pendingFlushes.set(registry, flushes);
  }
  return flushes;
}

function collector(registry: Registry): () => void {
  return () => {
    for (const flush of flushesOf(registry)) flush();
  };
}

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry], collect: collector(registry) });
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry], collect: collector(registry) });
}

/** cacheMetrics returns the cache series on `registry`, creating them the first time. */
export function cacheMetrics(registry: Registry): CacheMetrics {
  return {
    hits: counter(registry, 'scaleplane_cache_hits_total', 'Cache reads answered, by tier.', [
      'cache',
      'tier',
    ]),
    misses: counter(registry, 'scaleplane_cache_misses_total', 'Cache reads a tier answered with nothing.', [
      'cache',
      'tier',
    ]),
    unavailable: counter(
      registry,
      'scaleplane_cache_unavailable_total',
      'Cache reads a tier did not answer (down, breaker open, timed out).',
      ['cache', 'tier'],
    ),
    staleServes: counter(registry, 'scaleplane_cache_stale_serves_total', 'Values served past their TTL.', [
      'cache',
      'reason',
    ]),
    loaderCalls: counter(registry, 'scaleplane_cache_loader_calls_total', 'Loader calls by outcome.', [
      'cache',
      'outcome',
    ]),
    errors: counter(registry, 'scaleplane_cache_errors_total', 'Cache failures per tier, absorbed.', [
      'cache',
      'tier',
    ]),
    redisUp: gauge(registry, 'scaleplane_cache_redis_up', '1 while the Redis tier takes commands.', [
      'cache',
    ]),
    invalidations: counter(registry, 'scaleplane_cache_invalidations_total', 'Memory-tier invalidations.', [
      'cache',
      'source',
    ]),
    offlineDropped: counter(
      registry,
      'scaleplane_cache_offline_dropped_total',
      'Redis writes dropped from a full offline queue.',
      ['cache'],
    ),
    memoryEntries: gauge(registry, 'scaleplane_cache_memory_entries', 'Entries in the memory tier.', [
      'cache',
    ]),
    memoryBytes: gauge(registry, 'scaleplane_cache_memory_bytes', 'Approximate bytes in the memory tier.', [
      'cache',
    ]),
  };
}

/** CacheCountName names the counts a cache keeps on its hot path. */
export type CacheCountName =
  | 'memoryHit'
  | 'memoryMiss'
  | 'redisHit'
  | 'redisMiss'
  | 'redisUnavailable'
  | 'staleRevalidate'
  | 'staleError'
  | 'staleTimeout'
  | 'staleLockTimeout'
  | 'loaderOk'
  | 'loaderError'
  | 'loaderTimeout'
  | 'invalidationsLocal'
  | 'invalidationsRemote'
  | 'offlineDropped';

/** ErrorTier is where an absorbed failure happened. */
export type ErrorTier = 'memory' | 'redis' | 'bus' | 'serializer' | 'loader';

/**
 * CacheCounts are one cache's counters as plain numbers. prom-client's labelled `inc()` hashes and
 * validates the labels on every call, which cost more than a Redis-tier hit itself; a plain
 * increment does not. The numbers reach the registry's series when the registry is scraped (its
 * `collect` hook) and on `detach()`, so what a scrape shows is always complete.
 */
export class CacheCounts {
  memoryHit = 0;
  memoryMiss = 0;
  redisHit = 0;
  redisMiss = 0;
  redisUnavailable = 0;
  staleRevalidate = 0;
  staleError = 0;
  staleTimeout = 0;
  staleLockTimeout = 0;
  loaderOk = 0;
  loaderError = 0;
  loaderTimeout = 0;
  invalidationsLocal = 0;
  invalidationsRemote = 0;
  offlineDropped = 0;
  /** Absorbed failures per tier. */
  readonly errors: Record<ErrorTier, number> = { memory: 0, redis: 0, bus: 0, serializer: 0, loader: 0 };
}

/** MemoryGauges reads the memory tier's size when the registry is scraped. */
export type MemoryGauges = () => { entries: number; bytes: number } | undefined;

/** MetricsBinding connects one cache's counts to the shared series. */
export interface MetricsBinding {
  /** The counts the cache increments. */
  readonly counts: CacheCounts;
  /** Sets the `redis_up` gauge at once (it changes rarely and matters when it does). */
  setRedisUp(up: boolean): void;
  /** Hands over what is pending, stops following the cache and removes its gauges (on close). Once. */
  detach(): void;
}

const COUNT_SERIES: readonly [CacheCountName, keyof CacheMetrics, Record<string, string>][] = [
  ['memoryHit', 'hits', { tier: 'memory' }],
  ['memoryMiss', 'misses', { tier: 'memory' }],
  ['redisHit', 'hits', { tier: 'redis' }],
  ['redisMiss', 'misses', { tier: 'redis' }],
  ['redisUnavailable', 'unavailable', { tier: 'redis' }],
  ['staleRevalidate', 'staleServes', { reason: 'revalidate' }],
  ['staleError', 'staleServes', { reason: 'error' }],
  ['staleTimeout', 'staleServes', { reason: 'timeout' }],
  ['staleLockTimeout', 'staleServes', { reason: 'lock_timeout' }],
  ['loaderOk', 'loaderCalls', { outcome: 'ok' }],
  ['loaderError', 'loaderCalls', { outcome: 'error' }],
  ['loaderTimeout', 'loaderCalls', { outcome: 'timeout' }],
  ['invalidationsLocal', 'invalidations', { source: 'local' }],
  ['invalidationsRemote', 'invalidations', { source: 'remote' }],
  ['offlineDropped', 'offlineDropped', {}],
];

/** How many open caches bind each cache name, per registry: a name's gauges go with its last cache. */
const openNames = new WeakMap<Registry, Map<string, number>>();

/** bindCacheMetrics gives the cache named `cache` its counts on `metrics` (of `registry`). */
export function bindCacheMetrics(
  registry: Registry,
  metrics: CacheMetrics,
  cache: string,
  memory: MemoryGauges,
): MetricsBinding {
  const counts = new CacheCounts();
  const sent = new CacheCounts();
  const flush: Flush = () => {
    for (const [name, series, labels] of COUNT_SERIES) {
      const delta = counts[name] - sent[name];
      if (delta > 0) (metrics[series] as Counter<string>).inc({ cache, ...labels }, delta);
      sent[name] = counts[name];
    }
    for (const tier of Object.keys(counts.errors) as ErrorTier[]) {
      const delta = counts.errors[tier] - sent.errors[tier];
      if (delta > 0) metrics.errors.inc({ cache, tier }, delta);
      sent.errors[tier] = counts.errors[tier];
    }
    const sizes = memory();
    if (sizes) {
      metrics.memoryEntries.set({ cache }, sizes.entries);
      metrics.memoryBytes.set({ cache }, sizes.bytes);
    }
  };
  const flushes = flushesOf(registry);
  flushes.add(flush);
  let names = openNames.get(registry);
  if (names === undefined) {
    names = new Map();
    openNames.set(registry, names);
  }
  const open = names;
  open.set(cache, (open.get(cache) ?? 0) + 1);
  // Every series of a cache exists from the start, at 0, so rate() has a start.
  for (const [, series, labels] of COUNT_SERIES)
    (metrics[series] as Counter<string>).inc({ cache, ...labels }, 0);
  flush();
  return {
    counts,
    setRedisUp: (up) => metrics.redisUp.set({ cache }, up ? 1 : 0),
    detach: () => {
      if (!flushes.delete(flush)) return;
      flush();
      const left = (open.get(cache) ?? 1) - 1;
      if (left > 0) {
        open.set(cache, left);
        return;
      }
      open.delete(cache);
      // A gauge describes a cache that is open: left behind, a closed cache read redis_up 0 (an
      // alert that never resolved) and its last memory size. Counters stay: totals of what it did.
      for (const gauge of [metrics.redisUp, metrics.memoryEntries, metrics.memoryBytes])
        gauge.remove({ cache });
    },
  };
}
