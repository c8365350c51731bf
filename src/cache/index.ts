/**
 * scaleplane/cache: a stampede-proof cache-aside library with an in-memory tier and a Redis tier.
 * Other modules import from here only.
 */

export { type BackoffConfig, reconnectDelay } from './backoff.js';
export {
  type BreakerConfig,
  type BreakerReason,
  type BreakerState,
  type BreakerStep,
  breakerAllow,
  breakerFailure,
  breakerReconnected,
  breakerSuccess,
  initialBreakerState,
} from './breaker.js';
export {
  Cache,
  type CacheApi,
  type CacheEvents,
  createCache,
  type InvalidationEvent,
  type Loader,
  type LoaderContext,
  type WrapOptions,
} from './cache.js';
export { type Clock, type Random, systemClock } from './clock.js';
export {
  buildEntry,
  type CacheEntry,
  classifyEntry,
  type EntryPolicy,
  type EntryState,
  isServable,
  jitteredTtl,
  remainingMs,
} from './entry.js';
export { decodeEntry, encodeEntry, encodeTombstone, freshPayloadAt, isTombstone } from './envelope.js';
export { CacheError, type CacheErrorCode, CacheOptionError, RedisTierError } from './errors.js';
export { MemoryStore, type MemoryStoreLimits } from './memory-store.js';
export { type CacheMetrics, cacheMetrics } from './metrics.js';
export type {
  CacheLogger,
  CacheOptions,
  CallOptions,
  Duration,
  EntryOptions,
  LockOptions,
  RedisTierOptions,
} from './options.js';
export { RELEASE_LOCK, TAG_ADD } from './scripts.js';
export { jsonSerializer, lenientJsonSerializer, type Serializer } from './serializer.js';
