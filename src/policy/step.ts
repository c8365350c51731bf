/**
 * AWS EC2 Auto Scaling step and simple scaling, as one pure stage.
 *
 * - The alarm reads one metric's group value (average per instance, or the total) against a
 *   scale-out and a scale-in threshold. Step bounds are relative to the threshold: above it the
 *   lower bound is inclusive and the upper exclusive; below it the reverse.
 * - Simple scaling waits `cooldown` after any change before it answers another alarm.
 * - Step scaling has no cooldown but is warm-up aware: while instances are starting, a new breach
 *   only adds what its step asks beyond the capacity already on its way, and scale-in waits.
 */
import type { ObservedMetric, StageReason, StepAdjustment, StepScaling } from './types.js';

/** StepInput is what the step stage needs from the snapshot and state. */
export interface StepInput {
  current: number;
  ready: number;
  metric: ObservedMetric | undefined;
  lastScaleAt: number | undefined;
  now: number;
}

/** alarmValue is the value an alarm compares: the group total, or the average per instance. */
export function alarmValue(metric: ObservedMetric | undefined): number | null {
  if (!metric || metric.error !== undefined || metric.values.length === 0) return null;
  const sum = metric.values.reduce((s, v) => s + v, 0);
  return metric.kind === 'total' ? sum : sum / metric.values.length;
}

function findStep(
  steps: readonly StepAdjustment[],
  breach: number,
  above: boolean,
): StepAdjustment | undefined {
  return steps.find((s) => {
    const lower = s.lower ?? Number.NEGATIVE_INFINITY;
    const upper = s.upper ?? Number.POSITIVE_INFINITY;
    return above ? breach >= lower && breach < upper : breach > lower && breach <= upper;
  });
}

/** percentChange rounds a percent change of capacity as AWS documents (12.7 → 12, 0.4 → 1, -6.67 → -6). */
export function percentChange(current: number, percent: number, minMagnitude = 1): number {
  const raw = (current * percent) / 100;
  let change: number;
  if (raw > 0) change = raw < 1 ? 1 : Math.floor(raw);
  else if (raw < 0) change = raw > -1 ? -1 : Math.ceil(raw);
  else change = 0;
  if (change !== 0 && Math.abs(change) < minMagnitude) change = Math.sign(change) * minMagnitude;
  return change;
}

function applyAdjustment(spec: StepScaling, base: number, adjustment: number): number {
  switch (spec.adjustmentType) {
    case 'ExactCapacity':
      return adjustment;
    case 'PercentChangeInCapacity':
      return base + percentChange(base, adjustment, spec.minAdjustmentMagnitude ?? 1);
    default:
      return base + adjustment;
  }
}

/** stepProposal is the count the alarms ask for, with its reason. */
export function stepProposal(
  spec: StepScaling,
  input: StepInput,
): { desired: number; reason: StageReason; value: number | null } {
  const { current, ready, now } = input;
  const value = alarmValue(input.metric);
  if (value === null) return { desired: current, reason: 'MetricMissing', value };
  if (spec.mode === 'simple' && input.lastScaleAt !== undefined && now - input.lastScaleAt < spec.cooldown) {
    return { desired: current, reason: 'CooldownActive', value };
  }
  const warming = current > ready;
  if (value > spec.scaleOutThreshold) {
    const step = findStep(spec.scaleOut, value - spec.scaleOutThreshold, true);
    if (!step) return { desired: current, reason: 'NoAlarm', value };
    // Warm-up: the capacity on its way already answers part of this breach.
    const base = spec.mode === 'step' && warming ? ready : current;
    return {
      desired: Math.max(current, applyAdjustment(spec, base, step.adjustment)),
      reason: 'StepAdjustment',
      value,
    };
  }
  if (value < spec.scaleInThreshold) {
    if (spec.mode === 'step' && warming) return { desired: current, reason: 'CooldownActive', value };
    const step = findStep(spec.scaleIn, value - spec.scaleInThreshold, false);
    if (!step) return { desired: current, reason: 'NoAlarm', value };
    return {
      desired: Math.min(current, applyAdjustment(spec, current, step.adjustment)),
      reason: 'StepAdjustment',
      value,
    };
  }
  return { desired: current, reason: 'NoAlarm', value };
}
