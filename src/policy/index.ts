export { activationStage } from './activation.js';
export { type AppendLog, appendToLog, emptyLog } from './append-log.js';
export { changeInPeriod, limitRate, scaleDownLimit, scaleUpLimit } from './behavior.js';
export {
  DEFAULT_INTERVAL,
  DEFAULT_STARTUP,
  type GroupTiming,
  groupPolicy,
  groupStartup,
  LIVE_PANIC,
  type LiveRate,
  type LiveScalingSettings,
  livePolicy,
  liveSettings,
  presetBehaviorDefaults,
  providerStartup,
} from './live.js';
export { memoryOf, type PredictiveMemory, restoreMemory, retentionOf } from './memory.js';
export { panicStage } from './panic.js';
export {
  decide,
  initialScalingState,
  observe,
  recordManualChange,
  samplesOf,
} from './pipeline.js';
export { forecastPeak, observeHistory, predictiveFloor } from './predictive.js';
export {
  HPA_SCALE_DOWN,
  HPA_SCALE_UP,
  PRESET_NAMES,
  type Preset,
  type PresetName,
  type PresetOptions,
  presetPolicy,
} from './presets.js';
export { loadOf, replicasForMetric, type Tolerances } from './replica-calculator.js';
export {
  chooseStartup,
  formatStartup,
  medianStartup,
  recordStartup,
  STARTUP_MIN_CHANGE,
  STARTUP_MIN_CHANGE_MS,
  STARTUP_SAMPLES,
  type Startup,
  type StartupChoice,
  type StartupInput,
  type StartupReason,
  type StartupSource,
  startupMoved,
} from './startup.js';
export { alarmValue, percentChange, stepProposal } from './step.js';
export {
  clamp,
  type Decision,
  initialPolicyState,
  type MetricReading,
  type PolicyState,
  proposeForMetric,
  type ReasonCode,
  type Recommendation,
  recommend,
  recordManualScale,
  stabilize,
  type TargetTrackingConfig,
} from './target-tracking.js';
export type {
  Activation,
  DirectionBehavior,
  LoadSample,
  MetricKind,
  MetricProposal,
  ObservedMetric,
  Panic,
  Predictive,
  RatePolicy,
  ScaleEvent,
  ScalingDecision,
  ScalingPolicy,
  ScalingState,
  SelectPolicy,
  Snapshot,
  StageReason,
  StageTrace,
  StepAdjustment,
  StepScaling,
} from './types.js';
