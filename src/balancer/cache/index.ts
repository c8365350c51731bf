/**
 * The HTTP response cache of the built-in balancer: pure RFC 9111 decisions (policy.ts), stores
 * (memory, Redis) and the shell that serves, fills, coalesces and revalidates (http-cache.ts).
 */

import type { Registry } from 'prom-client';
import type { HttpCacheConfig } from '../../config/types.js';
import type { BalancerLogger } from '../types.js';
import { HttpCache, type HttpCacheOptions } from './http-cache.js';
import { MemoryHttpStore } from './memory-store.js';
import { httpCacheMetrics } from './metrics.js';
import { RedisHttpStore } from './redis-store.js';
import type { HttpCacheStore } from './store.js';

export {
  CLOUDFLARE_BATCH,
  CloudflareError,
  type CloudflarePlan,
  type CloudflarePurge,
  type CloudflareRequestBody,
  type CloudflareResult,
  checkCloudflareToken,
  cloudflarePlan,
  cloudflareToken,
  purgeCloudflare,
} from './cloudflare.js';
export {
  hostOfKey,
  hostTarget,
  MAX_VARIANTS,
  matchesHost,
  matchesPrefix,
  matchesUrl,
  type PurgeSelector,
  type PurgeTarget,
  pathOfKey,
  primaryKey,
  purgeTarget,
  type StoredResponse,
} from './entry.js';
export { HitForMiss, hitForMissMs } from './hit-for-miss.js';
export { type CacheUpstream, HttpCache, type HttpCacheOptions, hostOf } from './http-cache.js';
export { MemoryHttpStore, type MemoryStoreLimits } from './memory-store.js';
export { type CacheResult, type HttpCacheMetrics, httpCacheMetrics } from './metrics.js';
export * from './policy.js';
export {
  CachePurger,
  type CachePurgerOptions,
  type PurgeOutcome,
  type PurgeRequest,
  purgeSelector,
} from './purge.js';
export { RedisHttpStore, type RedisStoreOptions } from './redis-store.js';
export type { HttpCacheStore } from './store.js';

/** createHttpStore makes the store a cache config asks for. */
export function createHttpStore(config: HttpCacheConfig, logger: BalancerLogger): HttpCacheStore {
  if (config.storage === 'memory')
    return new MemoryHttpStore({ maxEntries: config.maxEntries, maxBytes: config.maxBytes });
  if (config.redisUrl === undefined) throw new TypeError('cache.redis_url is required for storage redis');
  let warned = false;
  return new RedisHttpStore({ url: config.redisUrl, keyPrefix: config.keyPrefix }, (err) => {
    // ioredis repeats connection errors on every retry; once per outage is enough in the log.
    if (warned) return;
    warned = true;
    logger.warn({ err: err.message }, 'http cache redis error; serving from the backend meanwhile');
  });
}

/** createHttpCache builds a cache with its store and the metrics of `registry`. */
export function createHttpCache(
  name: string,
  config: HttpCacheConfig,
  registry: Registry,
  logger: BalancerLogger,
  now?: () => number,
  onInvalidate?: HttpCacheOptions['onInvalidate'],
): HttpCache {
  return new HttpCache({
    name,
    config,
    store: createHttpStore(config, logger),
    metrics: httpCacheMetrics(registry),
    logger,
    ...(now === undefined ? {} : { now }),
    ...(onInvalidate === undefined ? {} : { onInvalidate }),
  });
}
