export {
  type AsgInstanceView,
  type AwsReplacementPlan,
  asgState,
  planStopStart,
  refreshMaxHealthyPercentage,
  refreshMinHealthyPercentage,
  withinHealthCheckGrace,
} from './plan.js';
export { AwsProvider, type AwsProviderOptions } from './provider.js';
