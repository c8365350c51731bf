import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * CacheMetrics are the cache's Prometheus series. Several caches may share one registry: the series
 * are created once per registry and told apart by the `cache` label.
 */
export interface CacheMetrics {
  /** Reads answered by a tier (`memory`, `redis`), stale serves included. */
  readonly hits: Counter<'cache' | 'tier'>;
  /** Reads a tier could not answer. */
  readonly misses: Counter<'cache' | 'tier'>;
  /** Values served past their TTL, by reason (`revalidate`, `error`, `timeout`, `lock_timeout`). */
  readonly staleServes: Counter<'cache' | 'reason'>;
  /** Loader calls by outcome (`ok`, `error`). */
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

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/** cacheMetrics returns the cache series on `registry`, creating them the first time. */
export function cacheMetrics(registry: Registry): CacheMetrics {
  return {
    hits: counter(registry, 'scaleplane_cache_hits_total', 'Cache reads answered, by tier.', [
      'cache',
      'tier',
    ]),
    misses: counter(registry, 'scaleplane_cache_misses_total', 'Cache reads a tier could not answer.', [
      'cache',
      'tier',
    ]),
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
