/**
 * Shared vocabulary of the policy pipeline: what the caller observes (Snapshot), what the user
 * configured (ScalingPolicy), what the policy remembers (ScalingState) and what it answers
 * (ScalingDecision). Everything here is plain data so a decision can be journaled and replayed.
 */
import type { AppendLog } from './append-log.js';
import type { ForecasterState } from './forecast.js';

/** StageReason is a stable token saying why a stage of the pipeline changed or kept the count. */
export type StageReason =
  | 'AboveTarget'
  | 'BelowTarget'
  | 'WithinTolerance'
  | 'MetricMissing'
  | 'NoMetrics'
  | 'UnreadyIgnored'
  | 'StepAdjustment'
  | 'NoAlarm'
  | 'CooldownActive'
  | 'ScaleUpStabilized'
  | 'ScaleDownStabilized'
  | 'ScaleUpLimit'
  | 'ScaleDownLimit'
  | 'ScaleUpDisabled'
  | 'ScaleDownDisabled'
  | 'PanicStarted'
  | 'Panicking'
  | 'PanicEnded'
  | 'PanicHold'
  | 'Saturated'
  | 'Predicted'
  | 'Activated'
  | 'NotActive'
  | 'ScaledToZero'
  | 'ZeroCooldown'
  | 'TooFewReplicas'
  | 'TooManyReplicas'
  | 'DesiredWithinRange'
  /** The live controller held a scale-out at `limits.max_instances_total` (across groups). */
  | 'TotalInstancesLimit';

/**
 * MetricKind says how HPA turns a reading into a count:
 * - `utilization` / `average`: one value per instance, averaged, `ceil(ratio × instances with a value)`;
 * - `total`: one value for the whole group (queue depth, a PromQL sum), `ceil(total / target)`
 *   (HPA's external metric with an AverageValue target).
 */
export type MetricKind = 'utilization' | 'average' | 'total';

/** ObservedMetric is one metric at decision time. */
export interface ObservedMetric {
  name: string;
  /** Per-instance target (utilization percent, per-instance value, or per-instance share of a total). */
  target: number;
  /** @defaultValue 'utilization' */
  kind?: MetricKind;
  /** Per ready instance with a sample (utilization/average), or the single group total (total). */
  values: readonly number[];
  /** Ready instances that have no sample (HPA's missing pods). @defaultValue 0 */
  missing?: number;
  /** Instances not ready yet, or still warming up (HPA's unready pods). @defaultValue 0 */
  unready?: number;
  /** Ceiling of one instance's value (100 for CPU): a reading at it only bounds demand from below. */
  ceiling?: number;
  /** Set when the source failed: the metric counts as missing, never as zero. */
  error?: string;
  /** `bytes`: values and target are bytes, shown in MiB in decision messages. */
  unit?: 'bytes';
}

/** LoadSample is the group's load at one moment, in instances needed at target. */
export interface LoadSample {
  at: number;
  /** Instances needed at target (e.g. Σ cpu / target); a lower bound when `saturated`. */
  load: number;
  /** True when the metric sat at its ceiling, so true demand may be higher. */
  saturated: boolean;
}

/** Snapshot is everything a decision may look at. The caller measures; the policy never does. */
export interface Snapshot {
  /** Instances provisioned now (ready + starting): HPA's spec.replicas. */
  current: number;
  /** Instances ready to serve. */
  ready: number;
  metrics: readonly ObservedMetric[];
  /** Load samples since the previous decision, oldest first (panic and predictive windows). */
  samples?: readonly LoadSample[];
}

/** RatePolicy is one HPA behavior policy: change at most `value` Pods or Percent per period. */
export interface RatePolicy {
  type: 'Pods' | 'Percent';
  value: number;
  /** ms */
  period: number;
}

/** SelectPolicy picks among rate policies: the largest change, the smallest, or none at all. */
export type SelectPolicy = 'Max' | 'Min' | 'Disabled';

/** DirectionBehavior is HPA's `behavior.scaleUp` or `behavior.scaleDown`. */
export interface DirectionBehavior {
  /** ms */
  stabilizationWindow: number;
  selectPolicy: SelectPolicy;
  /** Empty: no rate limit. */
  policies: readonly RatePolicy[];
  /** Relative deviation from target that causes no scaling in this direction. */
  tolerance: number;
}

/** StepAdjustment is one AWS step: applies when `lower <= metric - threshold < upper`. */
export interface StepAdjustment {
  lower?: number;
  upper?: number;
  adjustment: number;
}

/** StepScaling is AWS step scaling (no cooldown, warm-up aware) or simple scaling (cooldown). */
export interface StepScaling {
  /** Which metric the alarms read (by name). */
  metric: string;
  /** 'simple' waits `cooldown` after any scaling; 'step' aggregates steps during warm-up instead. */
  mode: 'step' | 'simple';
  adjustmentType: 'ChangeInCapacity' | 'PercentChangeInCapacity' | 'ExactCapacity';
  /** For PercentChangeInCapacity: change at least this many instances. @defaultValue 1 */
  minAdjustmentMagnitude?: number;
  /** Alarm above this value scales out with `scaleOut` steps (bounds relative to it). */
  scaleOutThreshold: number;
  scaleOut: readonly StepAdjustment[];
  /** Alarm below this value scales in with `scaleIn` steps (negative bounds and adjustments). */
  scaleInThreshold: number;
  scaleIn: readonly StepAdjustment[];
  /** ms, simple scaling only. @defaultValue 300000 */
  cooldown: number;
}

/** Activation is KEDA's scale to zero: wake above `threshold`, sleep after `cooldown` of inactivity. */
export interface Activation {
  /** The group is active while any metric's group value exceeds this. @defaultValue 0 */
  threshold: number;
  /** ms of inactivity before scaling to zero (KEDA cooldownPeriod). @defaultValue 300000 */
  cooldown: number;
}

/** Panic is Knative KPA's panic mode. */
export interface Panic {
  /** ms, the short window averaged to detect a burst (KPA: 10 % of the stable window = 6 s). */
  window: number;
  /** Panic when panic-window demand / ready ≥ this (KPA: 2.0 = 200 %). */
  threshold: number;
  /** ms without a burst before panic ends (KPA's stable window, 60 s). */
  stableWindow: number;
  /** Scale-up factor when the metric sits at its ceiling (true demand unknown); 0 = off. */
  saturationFactor: number;
}

/** Predictive forecasts load from the policy's own history and provisions ahead of it. */
export interface Predictive {
  /** Seasons to look back (e.g. 1 day, 1 week), ms. */
  seasons: readonly number[];
  /** History bucket, ms. @defaultValue 60000 */
  bucket: number;
  /** Provision this far ahead (instance start-up time + decision interval), ms. */
  horizon: number;
  /** Seasonal values are averaged over this span around T − season, to forecast the level, not the noise, ms. */
  smoothing: number;
  /** Window over which the current level is compared to the same window one season ago (trend), ms. */
  trendWindow: number;
  /** Extra headroom, in standard deviations of minute-to-minute load noise. */
  deviations: number;
  /** Window of that standard deviation (of successive bucket differences), ms. */
  deviationWindow: number;
  /** Utilization (same unit as the metric's target) the forecast provisions for; unset = the target. */
  utilization?: number;
  /** Window of the recent level, a floor under the seasonal forecast, ms. */
  levelWindow: number;
  /**
   * Price of overload in instance-time per instance-time of overloaded demand. Set: the learnt
   * next-bucket forecast (see forecast.ts) provisions the headroom this price pays for, on top of
   * the seasonal part. Unset: seasonal forecast + `deviations` only.
   */
  violationCost?: number;
  /** EWMA smoothing factors per bucket the forecaster chooses among. @defaultValue [1, 0.5, 0.25, 0.1] */
  smoothers?: readonly number[];
  /** Half-life of the forecaster's error memory, ms. @defaultValue 86400000 (1 day) */
  errorHalfLife?: number;
  /** Set: combine the smoothers by least squares, shrunk by this ridge towards the best one alone. */
  ridge?: number;
  /** Set: the noise follows the last this many squared errors (bursts cluster). */
  noiseLags?: number;
}

/** ScalingPolicy is a whole policy: target tracking (or step scaling) plus optional features. */
export interface ScalingPolicy {
  name: string;
  minInstances: number;
  maxInstances: number;
  scaleUp: DirectionBehavior;
  scaleDown: DirectionBehavior;
  /**
   * How not-ready instances count when scaling up: `hpa` counts them as 0 % load (HPA's
   * conservative rule); `capacity` counts them as capacity already on its way (warm-up aware).
   */
  unready: 'hpa' | 'capacity';
  /**
   * How the count is stabilized and rate-limited. `behavior` (default): per-direction windows and
   * rate policies (`scaleUp`/`scaleDown`). `legacy`: what Kubernetes does for an HPA without
   * `spec.behavior` (horizontal.go normalizeDesiredReplicas): the highest recommendation of the
   * last `scaleDown.stabilizationWindow`, in both directions, then at most max(2 × current, 4).
   */
  normalization?: 'behavior' | 'legacy';
  /**
   * How a utilization metric is read: `exact` (default) or `whole-percent`, truncated as
   * Kubernetes does (metrics/utilization.go), for the presets that stand for an HPA.
   */
  utilization?: 'exact' | 'whole-percent';
  step?: StepScaling;
  activation?: Activation;
  panic?: Panic;
  predictive?: Predictive;
}

/** ScaleEvent is a change the policy made, kept for rate-limit periods. */
export interface ScaleEvent {
  at: number;
  change: number;
}

/** HistoryBucket is one bucket of the predictive load history. */
export interface HistoryBucket {
  /** Bucket index = floor(at / bucket). */
  index: number;
  sum: number;
  count: number;
  saturated: boolean;
}

/** ScalingState is what a policy remembers between decisions; returned, never mutated in place. */
export interface ScalingState {
  recommendations: readonly { at: number; desired: number }[];
  scaleUpEvents: readonly ScaleEvent[];
  scaleDownEvents: readonly ScaleEvent[];
  /** Last time simple scaling changed the count (cooldown). */
  lastScaleAt?: number;
  /** KEDA: last time the group was active. */
  lastActiveAt?: number;
  /** KPA: when panic started (undefined when calm) and the most it asked for since. */
  panicSince?: number;
  panicLastOver?: number;
  panicMax?: number;
  /** Recent load samples for the panic and deviation windows. */
  recent: readonly LoadSample[];
  /** Predictive history of closed buckets, shared structurally between states (append-only). */
  history?: AppendLog<HistoryBucket>;
  /** The bucket still filling; appended to `history` when a sample falls into a later one. */
  openBucket?: HistoryBucket;
  /** The learnt next-bucket forecaster (predictive with `violationCost`). */
  forecaster?: ForecasterState;
}

/** StageTrace is one pipeline stage's output, for the journal. */
export interface StageTrace {
  stage: string;
  desired: number;
  reason?: StageReason;
}

/** ScalingDecision is one decision: the count, why, and the state to pass next time. */
export interface ScalingDecision {
  current: number;
  desired: number;
  reasons: StageReason[];
  message: string;
  stages: StageTrace[];
  /** Per metric: the HPA replica calculation, for status output. */
  proposals: MetricProposal[];
  nextState: ScalingState;
}

/** MetricProposal is what one metric alone asks for (target tracking's Decision and the pipeline's ScalingDecision). */
export interface MetricProposal {
  name: string;
  average: number | null;
  target: number;
  ratio: number | null;
  proposal: number | null;
  reason: 'AboveTarget' | 'BelowTarget' | 'WithinTolerance' | 'MetricMissing';
}
