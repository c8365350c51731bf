/**
 * The HPA replica calculator (pkg/controller/podautoscaler/replica_calculator.go), per metric:
 *
 *   1. usageRatio = average(values of ready instances) / target (with `wholePercent`, a
 *      utilization truncated to a whole percent first, as HPA does)
 *   2. no missing and no unready instances: within tolerance → current, else ceil(ratio × with-value)
 *   3. otherwise rebalance conservatively: missing instances count as 100 % of target when scaling
 *      down and 0 when scaling up; unready instances count as 0 when scaling up
 *   4. the rebalanced ratio must not flip the direction nor fall into tolerance, and the new count
 *      must not move against it; either way → keep current
 *
 * `total` metrics follow HPA's external metrics with an AverageValue target:
 * within tolerance of total / (target × current) → current, else ceil(total / target).
 */
import type { DirectionBehavior, MetricProposal, ObservedMetric } from './types.js';

/** Tolerances is the relative deviation ignored upward and downward. */
export interface Tolerances {
  up: number;
  down: number;
}

/** tolerancesOf reads the per-direction tolerance out of a policy's behaviors. */
export function tolerancesOf(scaleUp: DirectionBehavior, scaleDown: DirectionBehavior): Tolerances {
  return { up: scaleUp.tolerance, down: scaleDown.tolerance };
}

function withinTolerance(ratio: number, tol: Tolerances): boolean {
  return ratio <= 1 + tol.up && ratio >= 1 - tol.down;
}

/**
 * utilizationOf is an average as the policy reads it. With `wholePercent` a resource's utilization
 * is truncated to a whole percent, as Kubernetes reads it (metrics/utilization.go:
 * int32(Σusage × 100 / Σrequests)) — an artefact of its integer API that the HPA presets keep to be
 * HPA, and Scaleplane's own policies do without. The 1e-9 keeps a sum that lands a hair below a
 * whole percent in floating point from losing it.
 */
function utilizationOf(metric: ObservedMetric, average: number, wholePercent: boolean): number {
  return wholePercent && (metric.kind ?? 'utilization') === 'utilization'
    ? Math.floor(average + 1e-9)
    : average;
}

/**
 * replicasForMetric computes HPA's count for one metric. `unreadyCounts` = 'capacity' skips the
 * 0-for-unready rule (warm-up aware: instances on their way are capacity, not idle load).
 */
export function replicasForMetric(
  metric: ObservedMetric,
  current: number,
  tol: Tolerances,
  unreadyCounts: 'hpa' | 'capacity' = 'hpa',
  wholePercent = false,
): MetricProposal {
  const { name, target } = metric;
  const missing = (name: string): MetricProposal => ({
    name,
    average: null,
    target,
    ratio: null,
    proposal: null,
    reason: 'MetricMissing',
  });
  if (metric.error !== undefined || metric.values.length === 0) return missing(name);

  if (metric.kind === 'total') {
    const total = metric.values.reduce((s, v) => s + v, 0);
    const ratio = current > 0 ? total / (target * current) : Number.POSITIVE_INFINITY;
    if (current > 0 && withinTolerance(ratio, tol)) {
      return { name, average: total, target, ratio, proposal: current, reason: 'WithinTolerance' };
    }
    return {
      name,
      average: total,
      target,
      ratio,
      proposal: Math.ceil(total / target),
      reason: ratio > 1 ? 'AboveTarget' : 'BelowTarget',
    };
  }

  const sum = metric.values.reduce((s, v) => s + v, 0);
  const withValue = metric.values.length;
  const average = utilizationOf(metric, sum / withValue, wholePercent);
  const ratio = average / target;
  const missingCount = metric.missing ?? 0;
  const unreadyCount = unreadyCounts === 'hpa' ? (metric.unready ?? 0) : 0;
  const scaleUp = ratio > 1;

  if (missingCount === 0 && (unreadyCount === 0 || !scaleUp)) {
    if (withinTolerance(ratio, tol)) {
      return { name, average, target, ratio, proposal: current, reason: 'WithinTolerance' };
    }
    return {
      name,
      average,
      target,
      ratio,
      proposal: Math.ceil(ratio * withValue),
      reason: scaleUp ? 'AboveTarget' : 'BelowTarget',
    };
  }

  // Step 3: rebalance. Missing instances get the value that dampens the move (for utilization HPA
  // assumes 100 % of the request, or the target when that is higher); unready ones only dampen
  // scale-up (they will serve soon; counting their 0 % as load would scale down).
  // At a ratio of exactly 1 HPA fills in neither way (replica_calculator.go tests `usageRatio < 1.0`
  // and `> 1.0`): missing instances are left out and the others' ratio, 1, holds. Counted at 100 %
  // as on a scale-down, they turned "cpu 50 vs target 50" with one pod unscraped into 3 → 4.
  const missingCounted = ratio === 1 ? 0 : missingCount;
  const fallback = metric.kind === 'average' ? target : Math.max(100, target);
  const rebalancedSum = sum + (ratio < 1 ? missingCounted * fallback : 0);
  let count = withValue + missingCounted;
  if (scaleUp) count += unreadyCount;
  const newRatio = utilizationOf(metric, rebalancedSum / count, wholePercent) / target;
  const keep = { name, average, target, ratio, proposal: current, reason: 'WithinTolerance' as const };
  if (withinTolerance(newRatio, tol) || (ratio > 1 && newRatio < 1) || (ratio < 1 && newRatio > 1)) {
    return keep;
  }
  const proposal = Math.ceil(newRatio * count);
  if ((newRatio < 1 && proposal > current) || (newRatio > 1 && proposal < current)) return keep;
  return { name, average, target, ratio, proposal, reason: scaleUp ? 'AboveTarget' : 'BelowTarget' };
}

/** loadOf turns a metric into instances needed at target (demand), and whether it is a lower bound. */
export function loadOf(metric: ObservedMetric): { load: number; saturated: boolean } | null {
  if (metric.error !== undefined || metric.values.length === 0) return null;
  const sum = metric.values.reduce((s, v) => s + v, 0);
  const saturated =
    metric.ceiling !== undefined &&
    metric.kind !== 'total' &&
    sum / metric.values.length >= metric.ceiling * 0.99;
  return { load: sum / metric.target, saturated };
}
