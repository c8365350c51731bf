/**
 * HPA's `behavior` (horizontal.go, normalizeDesiredReplicasWithBehaviors), as pure stages:
 *
 *   stabilized   = stabilize(...)   — scale up to the lowest, down to the highest recommendation
 *                                     seen within the direction's stabilization window
 *   rateLimited  = limitRate(...)   — at most what the direction's Pods/Percent policies allow
 *                                     per period, picked by selectPolicy; then min/max
 *
 * and the controller's older path for an HPA without `behavior` (normalizeDesiredReplicas), both
 * stages at once: normalizeLegacy(...).
 */
import type { Recommendation } from './target-tracking.js';
import type { DirectionBehavior, ScaleEvent, StageReason } from './types.js';

/** changeInPeriod sums the changes recorded within `period` before `now` (getReplicasChangePerPeriod). */
export function changeInPeriod(events: readonly ScaleEvent[], period: number, now: number): number {
  const cutoff = now - period;
  let sum = 0;
  for (const e of events) if (e.at > cutoff) sum += e.change;
  return sum;
}

/**
 * replicasAtPeriodStart is how many instances there were `period` ms before `now`: the current
 * count with the changes recorded since then undone (periodStartReplicas in horizontal.go). Both
 * directions' rate policies measure their allowance from it.
 */
function replicasAtPeriodStart(
  current: number,
  upEvents: readonly ScaleEvent[],
  downEvents: readonly ScaleEvent[],
  period: number,
  now: number,
): number {
  return current - changeInPeriod(upEvents, period, now) + changeInPeriod(downEvents, period, now);
}

/** scaleUpLimit is the most instances the scale-up policies allow now (calculateScaleUpLimitWithScalingRules). */
export function scaleUpLimit(
  current: number,
  upEvents: readonly ScaleEvent[],
  downEvents: readonly ScaleEvent[],
  rules: DirectionBehavior,
  now: number,
): number {
  if (rules.selectPolicy === 'Disabled') return current;
  // No policy at all: no limit (the Kubernetes API would reject an empty list).
  if (rules.policies.length === 0) return Number.POSITIVE_INFINITY;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  for (const policy of rules.policies) {
    const periodStart = replicasAtPeriodStart(current, upEvents, downEvents, policy.period, now);
    const proposed =
      policy.type === 'Pods'
        ? periodStart + policy.value
        : // Rounded up, or a small group could never grow by a percentage.
          Math.ceil(periodStart * (1 + policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** scaleDownLimit is the fewest instances the scale-down policies allow now (calculateScaleDownLimitWithBehaviors). */
export function scaleDownLimit(
  current: number,
  upEvents: readonly ScaleEvent[],
  downEvents: readonly ScaleEvent[],
  rules: DirectionBehavior,
  now: number,
): number {
  if (rules.selectPolicy === 'Disabled') return current;
  if (rules.policies.length === 0) return Number.NEGATIVE_INFINITY;
  // For scale-down "Max" means the largest change, i.e. the lowest count.
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  for (const policy of rules.policies) {
    const periodStart = replicasAtPeriodStart(current, upEvents, downEvents, policy.period, now);
    const proposed =
      policy.type === 'Pods'
        ? periodStart - policy.value
        : // Truncated as HPA's int32 conversion does.
          Math.trunc(periodStart * (1 - policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** RateLimitInput is what limitRate needs. */
export interface RateLimitInput {
  current: number;
  desired: number;
  min: number;
  max: number;
  scaleUp: DirectionBehavior;
  scaleDown: DirectionBehavior;
  upEvents: readonly ScaleEvent[];
  downEvents: readonly ScaleEvent[];
  now: number;
}

/** limitRate applies the rate policies and min/max (convertDesiredReplicasWithBehaviorRate). */
export function limitRate(input: RateLimitInput): { desired: number; reason: StageReason } {
  const { current, desired, min, max, now } = input;
  if (desired > current) {
    if (input.scaleUp.selectPolicy === 'Disabled') {
      return { desired: Math.max(current, Math.min(min, max)), reason: 'ScaleUpDisabled' };
    }
    // Never below current: events not yet expired must not force a scale-down.
    const limit = Math.max(
      current,
      scaleUpLimit(current, input.upEvents, input.downEvents, input.scaleUp, now),
    );
    const allowed = Math.min(max, limit);
    const reason: StageReason = max > limit ? 'ScaleUpLimit' : 'TooManyReplicas';
    if (desired > allowed) return { desired: allowed, reason };
  } else if (desired < current) {
    if (input.scaleDown.selectPolicy === 'Disabled') {
      return { desired: Math.min(current, Math.max(max, min)), reason: 'ScaleDownDisabled' };
    }
    const limit = Math.min(
      current,
      scaleDownLimit(current, input.upEvents, input.downEvents, input.scaleDown, now),
    );
    const allowed = Math.max(min, limit);
    const reason: StageReason = min < limit ? 'ScaleDownLimit' : 'TooFewReplicas';
    if (desired < allowed) return { desired: allowed, reason };
  }
  if (desired > max) return { desired: max, reason: 'TooManyReplicas' };
  if (desired < min) return { desired: min, reason: 'TooFewReplicas' };
  return { desired, reason: 'DesiredWithinRange' };
}

/** recordEvent adds the change from `before` to `after` and drops events older than any period needs. */
export function recordEvent(
  up: readonly ScaleEvent[],
  down: readonly ScaleEvent[],
  before: number,
  after: number,
  now: number,
  keepFor: number,
): { up: ScaleEvent[]; down: ScaleEvent[] } {
  const cutoff = now - keepFor;
  const nextUp = up.filter((e) => e.at > cutoff);
  const nextDown = down.filter((e) => e.at > cutoff);
  if (after > before) nextUp.push({ at: now, change: after - before });
  if (after < before) nextDown.push({ at: now, change: before - after });
  return { up: nextUp, down: nextDown };
}

/** longestPeriod is how long scale events matter for these behaviors. */
export function longestPeriod(...behaviors: DirectionBehavior[]): number {
  let longest = 0;
  for (const b of behaviors) for (const p of b.policies) longest = Math.max(longest, p.period);
  return longest;
}

/** LEGACY_SCALE_UP_FACTOR and LEGACY_SCALE_UP_MINIMUM bound one step of an HPA without `behavior`. */
const LEGACY_SCALE_UP_FACTOR = 2;
const LEGACY_SCALE_UP_MINIMUM = 4;

/** LegacyInput is what Kubernetes' behavior-less normalization reads. */
export interface LegacyInput {
  current: number;
  /** The metrics' recommendation before normalization. */
  prenormalized: number;
  recommendations: readonly Recommendation[];
  /** The downscale stabilization window, ms (`--horizontal-pod-autoscaler-downscale-stabilization`). */
  window: number;
  min: number;
  max: number;
  now: number;
}

/**
 * normalizeLegacy is the HPA controller's path for an HPA whose `spec.behavior` is unset, which the
 * API server leaves unset (SetDefaults_HorizontalPodAutoscalerBehavior fills only a given one):
 * stabilizeRecommendation takes the highest recommendation made since now − window, the new one
 * included, whichever the direction; convertDesiredReplicasWithRules then allows at most
 * max(2 × current, 4) and at least min. Returns the history to keep (the new recommendation added).
 */
export function normalizeLegacy(input: LegacyInput): {
  stabilized: number;
  desired: number;
  reason: StageReason;
  stabilizedReason: 'ScaleDownStabilized' | null;
  recommendations: Recommendation[];
} {
  const { current, prenormalized, min, max, now } = input;
  const cutoff = now - input.window;
  let stabilized = prenormalized;
  // Kubernetes drops a recommendation only once it is before the cutoff: one at it still counts.
  const recommendations = input.recommendations.filter((r) => r.at >= cutoff);
  for (const r of recommendations) stabilized = Math.max(stabilized, r.desired);
  recommendations.push({ at: now, desired: prenormalized });
  const scaleUpLimit = Math.max(LEGACY_SCALE_UP_FACTOR * current, LEGACY_SCALE_UP_MINIMUM);
  const allowed = Math.min(max, scaleUpLimit);
  const common = {
    stabilized,
    stabilizedReason: stabilized !== prenormalized ? ('ScaleDownStabilized' as const) : null,
    recommendations,
  };
  if (stabilized < min) return { ...common, desired: min, reason: 'TooFewReplicas' };
  if (stabilized > allowed)
    return { ...common, desired: allowed, reason: max > scaleUpLimit ? 'ScaleUpLimit' : 'TooManyReplicas' };
  return { ...common, desired: stabilized, reason: 'DesiredWithinRange' };
}
