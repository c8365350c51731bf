export {
  type AsgInstanceView,
  type AwsReplacementPlan,
  asgState,
  planStopStart,
  refreshMaxHealthyPercentage,
  refreshMinHealthyPercentage,
} from './plan.js';
export { AwsProvider, type AwsProviderOptions } from './provider.js';
