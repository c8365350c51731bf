export {
  createPicker,
  LeastConnectionsPicker,
  type PickContext,
  type Picker,
  RoundRobinPicker,
} from './algorithms/index.js';
export { Balancer, type BalancerEvents, type BalancerOptions, type GroupOptions } from './balancer.js';
export { BalancerError, type BalancerErrorCode, UnknownGroupError } from './errors.js';
export { type HealthState, type HealthTransition, nextHealthState } from './health.js';
export {
  classifyUpstreamError,
  type RetryDecision,
  type RetryInput,
  type RetryReason,
  retryDecision,
  type UpstreamFailure,
} from './retry.js';
export type { Backend, BackendInstance, BackendStats, BalancerLogger, GroupStats } from './types.js';
