// Why the HPA changed the replicas, from what it wrote in its own status: the figures and
// conditions `kubectl describe hpa` shows. Pure: the provider reads the HPA, this words it.

import type { EngineScaling } from '../types.js';
import { quantityCpu, quantityMemory } from './quantity.js';

/** The parts of an autoscaling/v2 metric value the explanation reads (target or current). */
interface MetricValueLike {
  type?: string;
  averageUtilization?: number;
  averageValue?: string | number;
  value?: string | number;
}

/** One autoscaling/v2 MetricSpec or MetricStatus: `type` plus the block named after it. */
interface MetricLike {
  type?: string;
  resource?: { name?: string; target?: MetricValueLike; current?: MetricValueLike };
  containerResource?: { name?: string; target?: MetricValueLike; current?: MetricValueLike };
  pods?: { metric?: { name?: string }; target?: MetricValueLike; current?: MetricValueLike };
  object?: { metric?: { name?: string }; target?: MetricValueLike; current?: MetricValueLike };
  external?: { metric?: { name?: string }; target?: MetricValueLike; current?: MetricValueLike };
}

/** HpaLike is the part of an autoscaling/v2 HorizontalPodAutoscaler read here. */
export interface HpaLike {
  spec?: { metrics?: MetricLike[] };
  status?: {
    currentReplicas?: number;
    desiredReplicas?: number;
    lastScaleTime?: string | Date;
    currentMetrics?: MetricLike[] | null;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[] | null;
  };
}

/** The HPA's default tolerance: no change while |current/target − 1| ≤ 0.1. */
const HPA_TOLERANCE = 0.1;
/** AbleToScale reasons that say only "it scaled" or "nothing to do": no news beside the metrics. */
const PLAIN_ABLE = new Set(['SucceededRescale', 'ReadyForNewScale']);

/** The block of a metric named by its type (`Resource` → `resource`, …). */
function block(m: MetricLike) {
  return m.resource ?? m.containerResource ?? m.pods ?? m.object ?? m.external;
}

function metricName(m: MetricLike): string {
  const b = block(m);
  const name = (b && 'name' in b ? b.name : undefined) ?? (b && 'metric' in b ? b.metric?.name : undefined);
  return name ?? m.type ?? 'metric';
}

/** A value in the terms the target uses: utilization in %, else the quantity as written. */
function figure(v: MetricValueLike | undefined, utilization: boolean): string | number | undefined {
  if (!v) return undefined;
  return utilization ? v.averageUtilization : (v.averageValue ?? v.value);
}

/** The number in a quantity: cores for a CPU one (`450m`), else bytes or a plain number (`100Mi`). */
function quantity(q: string | number): number {
  return quantityCpu(q) ?? quantityMemory(q) ?? Number.NaN;
}

/**
 * explainHpaScaling says why HorizontalPodAutoscaler `ref` took the workload from `before` to
 * `after`, from the HPA read after the change (undefined: it could not be read, `readError` says
 * why). When its status agrees (`desiredReplicas` is `after`), the reasons are `SuccessfulRescale`
 * (the event's reason in `kubectl describe hpa`), each metric's `AboveTarget`/`BelowTarget`/
 * `WithinTolerance` with its current and target figures, then the HPA's conditions that limited or
 * held it (`ScalingLimited`'s `TooManyReplicas`, `ScaleUpLimit`, …, or `DesiredWithinRange`;
 * `AbleToScale`'s `ScaleDownStabilized`, `BackoffBoth`, …; `ScalingActive` False). When it does not,
 * another client set the replicas (`DesiredChangedElsewhere`): the HPA will set its own count back.
 */
export function explainHpaScaling(input: {
  ref: string;
  before: number;
  after: number;
  hpa: HpaLike | undefined;
  readError?: string;
}): EngineScaling {
  const { ref, before, after, hpa } = input;
  const status = hpa?.status;
  if (!hpa || status?.desiredReplicas !== after) {
    const why = !hpa
      ? `its status could not be read (${input.readError ?? 'not found'})`
      : `its status says ${status?.desiredReplicas ?? 'no'} desired replicas (of ${status?.currentReplicas ?? '?'}), not ${after}: set by another client, the HPA sets its own count back at its next sync`;
    return {
      reasons: ['DesiredChangedElsewhere'],
      message: `${before} → ${after}: set on the kubernetes engine, not by ${ref}: ${why}`,
      inputs: {
        hpa: ref,
        ...(status?.desiredReplicas !== undefined && { hpaDesired: status.desiredReplicas }),
        ...(input.readError !== undefined && { error: input.readError }),
      },
    };
  }
  const reasons: string[] = ['SuccessfulRescale'];
  const metrics: Record<string, unknown>[] = [];
  const said: string[] = [];
  for (const spec of hpa.spec?.metrics ?? []) {
    const name = metricName(spec);
    const target = block(spec)?.target;
    const utilization = target?.type === 'Utilization';
    const current = (status.currentMetrics ?? []).find((c) => c.type === spec.type && metricName(c) === name);
    const now = figure(current && block(current)?.current, utilization);
    const wanted = figure(target, utilization);
    const unit = utilization ? '%' : '';
    if (now === undefined || wanted === undefined) {
      said.push(`${name}: no current value (target ${wanted ?? '?'}${unit})`);
      metrics.push({ name, target: wanted, current: null });
      if (!reasons.includes('MetricMissing')) reasons.push('MetricMissing');
      continue;
    }
    const ratio = quantity(now) / quantity(wanted);
    const reason =
      Math.abs(ratio - 1) <= HPA_TOLERANCE ? 'WithinTolerance' : ratio > 1 ? 'AboveTarget' : 'BelowTarget';
    if (!reasons.includes(reason)) reasons.push(reason);
    const of = utilization ? ' of requests' : '';
    said.push(`${name} ${now}${unit}${of} against a target of ${wanted}${unit} (${reason})`);
    metrics.push({ name, current: now, target: wanted, ...(utilization && { unit: '%' }) });
  }
  const conditions = (status.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
  }));
  for (const c of conditions) {
    const telling =
      (c.type === 'ScalingLimited' && c.reason !== undefined) ||
      (c.type === 'AbleToScale' && c.reason !== undefined && !PLAIN_ABLE.has(c.reason)) ||
      (c.type === 'ScalingActive' && c.status === 'False' && c.reason !== undefined);
    if (!telling || reasons.includes(c.reason!)) continue;
    reasons.push(c.reason!);
    said.push(`${c.type} ${c.status} ${c.reason}${c.message ? `: ${c.message}` : ''}`);
  }
  return {
    reasons,
    message: `${before} → ${after} by ${ref}: ${said.length > 0 ? said.join('; ') : 'its status names no metric'}`,
    inputs: {
      hpa: ref,
      metrics,
      hpaCurrent: status.currentReplicas,
      hpaDesired: status.desiredReplicas,
      ...(status.lastScaleTime !== undefined && {
        lastScaleTime: new Date(status.lastScaleTime).toISOString(),
      }),
      conditions,
    },
  };
}

/** HpaMetricFigure is one of the HPA's metrics as `status` shows it: its current figure (null: none yet) against its target. */
export interface HpaMetricFigure {
  name: string;
  target: number;
  average: number | null;
  /** `%` for a Utilization target; absent: a quantity (cores, bytes, a count). */
  unit?: '%';
}

/**
 * hpaMetricFigures pairs each metric of the HPA's spec with its `status.currentMetrics` entry, as
 * `kubectl get hpa` shows TARGETS (`55%/80%`): Utilization in %, another target as its number.
 */
export function hpaMetricFigures(hpa: HpaLike): HpaMetricFigure[] {
  return (hpa.spec?.metrics ?? []).flatMap((spec): HpaMetricFigure[] => {
    const name = metricName(spec);
    const target = block(spec)?.target;
    const utilization = target?.type === 'Utilization';
    const wanted = figure(target, utilization);
    if (wanted === undefined) return [];
    const current = (hpa.status?.currentMetrics ?? []).find(
      (c) => c.type === spec.type && metricName(c) === name,
    );
    const now = figure(current && block(current)?.current, utilization);
    return [
      {
        name,
        target: quantity(wanted),
        average: now === undefined ? null : quantity(now),
        ...(utilization && { unit: '%' as const }),
      },
    ];
  });
}
