export {
  ACTIVITY_LEAD_MS,
  type AsgInstanceView,
  type AwsReplacementPlan,
  activitySearchDone,
  asgState,
  type EntryReason,
  type EntryTime,
  entryTimes,
  type FreshInstance,
  planStopStart,
  refreshMaxHealthyPercentage,
  refreshMinHealthyPercentage,
  type ScalingActivityView,
  serviceEntryInstance,
  withinHealthCheckGrace,
} from './plan.js';
export { AwsProvider, type AwsProviderOptions } from './provider.js';
