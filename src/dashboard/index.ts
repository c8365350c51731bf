export { dashboardHtml, loadDashboardFiles, PUBLIC_DIR } from './assets.js';
export { bundleDashboard, CLIENT_DIR, type DashboardFiles } from './bundle.js';
export {
  addDecision,
  DECISIONS_PER_GROUP,
  type EntryLike,
  type StatusLike,
  toDecisionMark,
  toGroupSummary,
} from './convert.js';
export { type Bucket, bucketDelta, histogramQuantile } from './quantile.js';
export { renderReplayHtml, writeReplayHtml } from './replay.js';
export {
  LiveSampler,
  type LiveSamplerEvents,
  type LiveSamplerOptions,
  METRIC_NAMES,
  toSample,
} from './sampler.js';
export type {
  DashboardSample,
  DecisionMark,
  GroupSummary,
  InstanceRow,
  ReplayGroup,
  ReplaySeries,
  StreamHello,
  StreamTick,
} from './types.js';
