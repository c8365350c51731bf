/**
 * Target tracking exactly as the Kubernetes HPA computes it (pkg/controller/podautoscaler):
 *
 *   1. per metric:  usageRatio = average(values) / target
 *                   within tolerance (|1 - ratio| <= tolerance) → keep the current count,
 *                   otherwise → ceil(usageRatio × instances with a value)
 *   2. across metrics: the largest proposal wins (scale for the most loaded signal)
 *   3. stabilize:   scale-up to the lowest, scale-down to the highest recommendation seen within
 *                   the respective windows (stabilizeRecommendationWithBehaviors)
 *   4. clamp:       into [min, max]
 *
 * Pure: the caller passes `now` and the history in, and gets the next history back.
 */
import type { MetricProposal } from './types.js';

/** ReasonCode is a stable token saying why a decision came out as it did. Assert these, not messages. */
export type ReasonCode =
  | 'AboveTarget'
  | 'BelowTarget'
  | 'WithinTolerance'
  | 'MetricMissing'
  | 'NoMetrics'
  | 'ScaleUpStabilized'
  | 'ScaleDownStabilized'
  | 'TooFewReplicas'
  | 'TooManyReplicas'
  | 'DesiredWithinRange';

/** MetricReading is one metric's current samples: one value per instance that has one. */
export interface MetricReading {
  /** Name for messages and the journal, e.g. `cpu`. */
  name: string;
  target: number;
  /** One value per ready instance with a sample; instances without one are left out. */
  values: readonly number[];
}

/** TargetTrackingConfig is the subset of a group's scaling config the policy needs. */
export interface TargetTrackingConfig {
  minInstances: number;
  maxInstances: number;
  /** @defaultValue 0.1 */
  tolerance: number;
  /** ms. @defaultValue 300000 */
  scaleDownStabilization: number;
  /** ms. @defaultValue 0 */
  scaleUpStabilization: number;
}

/** Recommendation is one unstabilized desired count, kept for the stabilization windows. */
export interface Recommendation {
  at: number;
  desired: number;
}

/** PolicyState is what the policy remembers between decisions. */
export interface PolicyState {
  recommendations: readonly Recommendation[];
}

/** Decision is the outcome of one evaluation, with every stage named so the journal can explain it. */
export interface Decision {
  current: number;
  /** Largest metric proposal, before stabilization. */
  prenormalized: number;
  stabilized: number;
  desired: number;
  reasons: ReasonCode[];
  message: string;
  proposals: MetricProposal[];
  state: PolicyState;
}

/** initialPolicyState is the empty history. */
export const initialPolicyState: PolicyState = { recommendations: [] };

/** proposeForMetric computes HPA's per-metric replica count. */
export function proposeForMetric(reading: MetricReading, current: number, tolerance: number): MetricProposal {
  const { name, target, values } = reading;
  if (values.length === 0) {
    return { name, average: null, target, ratio: null, proposal: null, reason: 'MetricMissing' };
  }
  const average = values.reduce((sum, v) => sum + v, 0) / values.length;
  const ratio = average / target;
  if (Math.abs(1 - ratio) <= tolerance) {
    return { name, average, target, ratio, proposal: current, reason: 'WithinTolerance' };
  }
  return {
    name,
    average,
    target,
    ratio,
    proposal: Math.ceil(ratio * values.length),
    reason: ratio > 1 ? 'AboveTarget' : 'BelowTarget',
  };
}

/**
 * stabilize applies HPA's behavior windows: never scale up beyond the lowest, nor down below the
 * highest, recommendation made within the window. Returns the next history (old samples pruned).
 */
export function stabilize(
  current: number,
  prenormalized: number,
  history: readonly Recommendation[],
  config: Pick<TargetTrackingConfig, 'scaleUpStabilization' | 'scaleDownStabilization'>,
  now: number,
): { stabilized: number; reason: ReasonCode | null; recommendations: Recommendation[] } {
  const upCutoff = now - config.scaleUpStabilization;
  const downCutoff = now - config.scaleDownStabilization;
  let upRecommendation = prenormalized;
  let downRecommendation = prenormalized;
  for (const rec of history) {
    if (rec.at > upCutoff) upRecommendation = Math.min(upRecommendation, rec.desired);
    if (rec.at > downCutoff) downRecommendation = Math.max(downRecommendation, rec.desired);
  }
  let stabilized = current;
  if (stabilized < upRecommendation) stabilized = upRecommendation;
  if (stabilized > downRecommendation) stabilized = downRecommendation;

  let reason: ReasonCode | null = null;
  if (prenormalized > current && stabilized < prenormalized) reason = 'ScaleUpStabilized';
  if (prenormalized < current && stabilized > prenormalized) reason = 'ScaleDownStabilized';

  const oldest = Math.min(upCutoff, downCutoff);
  const recommendations = history.filter((rec) => rec.at > oldest);
  recommendations.push({ at: now, desired: prenormalized });
  return { stabilized, reason, recommendations };
}

/** clamp bounds a count to [min, max] with HPA's reason tokens. */
export function clamp(
  desired: number,
  min: number,
  max: number,
): { desired: number; reason: 'TooFewReplicas' | 'TooManyReplicas' | 'DesiredWithinRange' } {
  if (desired < min) return { desired: min, reason: 'TooFewReplicas' };
  if (desired > max) return { desired: max, reason: 'TooManyReplicas' };
  return { desired, reason: 'DesiredWithinRange' };
}

/** recommend runs the whole target-tracking pipeline for one group. */
export function recommend(
  current: number,
  readings: readonly MetricReading[],
  config: TargetTrackingConfig,
  state: PolicyState,
  now: number,
): Decision {
  const proposals = readings.map((reading) => proposeForMetric(reading, current, config.tolerance));
  const valid = proposals.filter((p) => p.proposal !== null);
  if (valid.length === 0) {
    // As the HPA: no metric, no scaling — above all never a silent scale-down.
    const { desired, reason } = clamp(current, config.minInstances, config.maxInstances);
    return {
      current,
      prenormalized: current,
      stabilized: current,
      desired,
      reasons: ['NoMetrics', reason],
      message: 'no metric has samples yet; keeping the current count',
      proposals,
      state,
    };
  }

  const winner = valid.reduce((best, p) => ((p.proposal ?? 0) > (best.proposal ?? 0) ? p : best));
  const prenormalized = winner.proposal ?? current;
  const {
    stabilized,
    reason: stabilizedReason,
    recommendations,
  } = stabilize(current, prenormalized, state.recommendations, config, now);
  const { desired, reason: rangeReason } = clamp(stabilized, config.minInstances, config.maxInstances);

  const reasons: ReasonCode[] = [winner.reason];
  if (proposals.some((p) => p.reason === 'MetricMissing')) reasons.push('MetricMissing');
  if (stabilizedReason) reasons.push(stabilizedReason);
  reasons.push(rangeReason);

  return {
    current,
    prenormalized,
    stabilized,
    desired,
    reasons,
    message: describe(current, desired, winner, stabilizedReason, rangeReason, prenormalized),
    proposals,
    state: { recommendations },
  };
}

/** recordManualScale makes a count set by hand part of the history, so scale-down stabilization holds it. */
export function recordManualScale<S extends PolicyState>(state: S, desired: number, now: number): S {
  // Keeps every other field: a ScalingState passed here must stay a whole ScalingState.
  return { ...state, recommendations: [...state.recommendations, { at: now, desired }] };
}

function describe(
  current: number,
  desired: number,
  winner: MetricProposal,
  stabilizedReason: ReasonCode | null,
  rangeReason: ReasonCode,
  prenormalized: number,
): string {
  const signal = `${winner.name} ${round(winner.average)} vs target ${winner.target}`;
  const parts = [
    `${signal}: ${winner.reason === 'WithinTolerance' ? 'within tolerance' : `wants ${prenormalized}`}`,
  ];
  if (stabilizedReason === 'ScaleDownStabilized') parts.push('held by the scale-down stabilization window');
  if (stabilizedReason === 'ScaleUpStabilized') parts.push('held by the scale-up stabilization window');
  if (rangeReason === 'TooManyReplicas') parts.push('capped at max_instances');
  if (rangeReason === 'TooFewReplicas') parts.push('raised to min_instances');
  return `${current} → ${desired}: ${parts.join('; ')}`;
}

function round(value: number | null): string {
  return value === null ? 'n/a' : String(Math.round(value * 10) / 10);
}
