/**
 * KEDA's scale to zero (pkg/scaling/executor/scale_scaledobjects.go), as a pure stage:
 *
 *   active  = some metric's value > activation threshold
 *   at 0:     active → wake to max(1, min); inactive → stay at 0
 *   above 0:  active → the reactive count (never below 1: the HPA part cannot go to 0);
 *             inactive for `cooldown` since last active → 0
 *
 * A metric that cannot be read makes the group neither active nor inactive: nothing changes
 * (above 0: no scale to zero while any is unread, unless one read is active).
 */
import type { Activation, ObservedMetric, StageReason } from './types.js';

/** activationValue is the value KEDA compares: the total for totals, the average otherwise. */
export function activationValue(metric: ObservedMetric): number | null {
  if (metric.error !== undefined || metric.values.length === 0) return null;
  const sum = metric.values.reduce((s, v) => s + v, 0);
  return metric.kind === 'total' ? sum : sum / metric.values.length;
}

/** activationStage applies scale-to-zero on top of the reactive count. */
export function activationStage(
  spec: Activation,
  metrics: readonly ObservedMetric[],
  current: number,
  reactive: number,
  minInstances: number,
  lastActiveAt: number | undefined,
  now: number,
): { desired: number; reason?: StageReason; lastActiveAt: number | undefined } {
  const values = metrics.map(activationValue);
  if (values.length > 0 && values.every((v) => v === null)) {
    return { desired: current === 0 ? 0 : Math.max(1, reactive), lastActiveAt };
  }
  const active = values.some((v) => v !== null && v > spec.threshold);
  if (current === 0) {
    if (!active) return { desired: 0, reason: 'NotActive', lastActiveAt };
    return { desired: Math.max(1, minInstances), reason: 'Activated', lastActiveAt: now };
  }
  if (active) return { desired: Math.max(1, reactive), lastActiveAt: now };
  // Inactive as far as read, but a metric unread may be busy (an AWS group's CPU while CloudWatch
  // has no datapoint): no scale to zero on the others alone. Before, only every metric unread held
  // the group, and a queue read empty beside a missing CPU scaled it to zero, its load unknown.
  if (values.some((v) => v === null)) return { desired: Math.max(1, reactive), lastActiveAt };
  // Just started, never seen active: the cooldown counts from now, not from the epoch.
  const since = lastActiveAt ?? now;
  if (now - since >= spec.cooldown) return { desired: 0, reason: 'ScaledToZero', lastActiveAt: since };
  return { desired: Math.max(1, reactive), reason: 'ZeroCooldown', lastActiveAt: since };
}
