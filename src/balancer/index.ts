export {
  ALGORITHMS,
  buildMaglevTable,
  ConsistentHashPicker,
  createPicker,
  EwmaPicker,
  type HashKeySource,
  hash32,
  LeastConnectionsPicker,
  P2CPicker,
  type PickContext,
  type Picker,
  type PickerOptions,
  parseHashKey,
  RoundRobinPicker,
} from './algorithms/index.js';
export {
  Balancer,
  type BalancerEvents,
  type BalancerOptions,
  type Ejection,
  type GroupOptions,
  type Recovery,
  type Unhealthy,
} from './balancer.js';
export {
  CachePurger,
  type CacheResult,
  type CacheUpstream,
  type CloudflareResult,
  checkCloudflareToken,
  cloudflarePlan,
  createHttpCache,
  createHttpStore,
  HttpCache,
  type HttpCacheMetrics,
  type HttpCacheStore,
  httpCacheMetrics,
  MemoryHttpStore,
  type PurgeOutcome,
  type PurgeRequest,
  type PurgeSelector,
  type PurgeTarget,
  purgeCloudflare,
  purgeSelector,
  purgeTarget,
  RedisHttpStore,
  type StoredResponse,
} from './cache/index.js';
export { DEFAULT_CONNECT_TIMEOUT, defaultConnectTimeout } from './connect-timeout.js';
export { BalancerError, type BalancerErrorCode, UnknownGroupError } from './errors.js';
export { type HealthState, type HealthTransition, nextHealthState } from './health.js';
export {
  DEFAULT_NGINX_TIMEOUTS,
  NginxDriver,
  NginxDriverError,
  type NginxDriverErrorCode,
  type NginxRetry,
  type NginxRetryOptions,
  type NginxSync,
  type NginxTimeouts,
  nginxTime,
  nginxTimeouts,
  renderLocationTimeouts,
  renderUpstreams,
  type UpstreamGroup,
  upstreamName,
} from './nginx/index.js';
export { fetchFromGroup, OriginError, type OriginRequest, type OriginResponse } from './origin.js';
export {
  countOutcome,
  type EjectionDecision,
  type EjectionInput,
  ejectionDecision,
  inPanic,
  maxEjectable,
  type OutlierCounters,
  type OutlierOutcome,
  type OutlierTrip,
} from './outlier.js';
export {
  classifyUpstreamError,
  gatewayStatus,
  MAX_RETRIES,
  mayRepeat,
  REPLAY_BODY_LIMIT,
  RETRY_OVERFLOWS,
  type RetryDecision,
  type RetryInput,
  type RetryOverflow,
  type RetryReason,
  retryDecision,
  retryOverflow,
  retryOverflowed,
  type UpstreamFailure,
} from './retry.js';
export { RetryBudget, retryBudgetAllows } from './retry-budget.js';
export { slowStartWeight } from './slow-start.js';
export type { Backend, BackendInstance, BackendStats, BalancerLogger, GroupStats } from './types.js';
