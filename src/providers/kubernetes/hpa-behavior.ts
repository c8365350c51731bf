// `scaling.behavior` of a `mode: hpa` group, as the HPA's autoscaling/v2 `spec.behavior`. Pure: the
// provider writes what `hpaBehavior` gives, the config refuses what `hpaBehaviorIssues` names.
// Before, the HPA was written without `spec.behavior`: a configured behavior was silently ignored
// and Kubernetes ran its defaults (scale-down window 300 s, ±100 % per 15 s).

import type { WrittenBehavior, WrittenDirection } from '../../config/types.js';
import { sameJson } from './hpa-metrics.js';

/** Kubernetes' limits (k8s.io/kubernetes pkg/apis/autoscaling/validation). */
const MAX_STABILIZATION_SECONDS = 3600;
const MAX_PERIOD_SECONDS = 1800;

/** HpaScalingRules is autoscaling/v2 HPAScalingRules, only the keys Scaleplane writes. */
export interface HpaScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: { type: 'Pods' | 'Percent'; value: number; periodSeconds: number }[];
}

/** HpaBehavior is autoscaling/v2 HorizontalPodAutoscalerBehavior. */
export interface HpaBehavior {
  scaleUp?: HpaScalingRules;
  scaleDown?: HpaScalingRules;
}

/**
 * hpaBehavior is `written` as the HPA's `spec.behavior`: only the keys set, so Kubernetes defaults
 * the rest exactly as it would for a hand-written HPA (a scale-down window of 300 s, its default
 * policies). Undefined when nothing is set: the HPA then has no behavior, as before.
 */
export function hpaBehavior(written: WrittenBehavior | undefined): HpaBehavior | undefined {
  if (written?.scaleUp === undefined && written?.scaleDown === undefined) return undefined;
  return {
    ...(written.scaleUp && { scaleUp: rulesOf(written.scaleUp) }),
    ...(written.scaleDown && { scaleDown: rulesOf(written.scaleDown) }),
  };
}

function rulesOf(d: WrittenDirection): HpaScalingRules {
  // An empty list with Disabled says nothing the HPA needs (no change that way at all); Kubernetes
  // rejects an empty list, so it is left out and defaulted. Empty otherwise is refused (see below).
  const policies = d.policies?.length ? d.policies : undefined;
  return {
    ...(d.stabilizationWindow !== undefined && { stabilizationWindowSeconds: d.stabilizationWindow / 1000 }),
    ...(d.selectPolicy !== undefined && { selectPolicy: d.selectPolicy }),
    ...(policies && {
      policies: policies.map((p) => ({ type: p.type, value: p.value, periodSeconds: p.period / 1000 })),
    }),
  };
}

/** HpaBehaviorIssue is a part of `behavior` an HPA cannot carry; `path` is below `scaling.behavior`. */
export interface HpaBehaviorIssue {
  path: (string | number)[];
  message: string;
}

/**
 * hpaBehaviorIssues names each part of `written` the HPA cannot express, so that a `mode: hpa` config
 * carrying it is refused instead of running on something else: a tolerance (per HPA only through
 * the alpha HPAConfigurableTolerance gate; a cluster without it drops the field without a word),
 * windows and periods that are not whole seconds or beyond Kubernetes' limits, a policy value that
 * is not a whole number (int32 in the API), and an empty policy list (Kubernetes requires one; an
 * empty list here means "no rate limit").
 */
export function hpaBehaviorIssues(written: WrittenBehavior): HpaBehaviorIssue[] {
  const issues: HpaBehaviorIssue[] = [];
  for (const [key, d] of [
    ['scale_up', written.scaleUp],
    ['scale_down', written.scaleDown],
  ] as const) {
    if (d === undefined) continue;
    if (d.tolerance !== undefined)
      issues.push({
        path: [key, 'tolerance'],
        message:
          "mode: hpa cannot set it: an HPA's tolerance is the cluster's (--horizontal-pod-autoscaler-tolerance, default 0.1), per HPA only behind the alpha HPAConfigurableTolerance feature gate; remove it, or set mode: controller",
      });
    const window = d.stabilizationWindow;
    if (window !== undefined && (window % 1000 !== 0 || window / 1000 > MAX_STABILIZATION_SECONDS))
      issues.push({
        path: [key, 'stabilization_window'],
        message: `mode: hpa writes it as the HPA's stabilizationWindowSeconds: whole seconds from 0s to ${MAX_STABILIZATION_SECONDS}s`,
      });
    if (d.policies?.length === 0 && d.selectPolicy !== 'Disabled')
      issues.push({
        path: [key, 'policies'],
        message:
          "mode: hpa cannot write an empty list (no rate limit): an HPA needs at least one policy; omit policies for Kubernetes' defaults, or list one such as { type: Percent, value: 1000, period: 1s }",
      });
    d.policies?.forEach((p, index) => {
      if (!Number.isInteger(p.value))
        issues.push({
          path: [key, 'policies', index, 'value'],
          message: `mode: hpa writes it as the HPA policy's value, a whole number; got ${p.value}`,
        });
      if (p.period % 1000 !== 0 || p.period / 1000 > MAX_PERIOD_SECONDS)
        issues.push({
          path: [key, 'policies', index, 'period'],
          message: `mode: hpa writes it as the HPA policy's periodSeconds: whole seconds from 1s to ${MAX_PERIOD_SECONDS}s`,
        });
    });
  }
  return issues;
}

/**
 * Kubernetes' defaults for the scaling rules of an HPA that has a `behavior` (k8s.io/kubernetes
 * pkg/apis/autoscaling/v2/defaults.go): the API server stores them in place of what is left out.
 */
const DEFAULT_SCALE_UP: Required<HpaScalingRules> = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
/** The scale-down window is left unset: the cluster's flag (default 300 s) applies. */
const DEFAULT_SCALE_DOWN: HpaScalingRules = {
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

/**
 * defaultedHpaBehavior is `behavior` as the API server stores it: each direction's rules with
 * Kubernetes' defaults in place of what is left out (both directions, once a behavior is set).
 * Undefined (or null) stays so: an HPA without a behavior has none stored.
 */
export function defaultedHpaBehavior(behavior: HpaBehavior | null | undefined): HpaBehavior | undefined {
  if (behavior === undefined || behavior === null) return undefined;
  return {
    scaleUp: defaulted(behavior.scaleUp, DEFAULT_SCALE_UP),
    scaleDown: defaulted(behavior.scaleDown, DEFAULT_SCALE_DOWN),
  };
}

function defaulted(rules: HpaScalingRules | null | undefined, defaults: HpaScalingRules): HpaScalingRules {
  const window = rules?.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds;
  return {
    ...(window !== undefined && window !== null && { stabilizationWindowSeconds: window }),
    selectPolicy: rules?.selectPolicy ?? defaults.selectPolicy!,
    policies: rules?.policies?.length ? rules.policies : defaults.policies!,
  };
}

/**
 * sameHpaBehavior says two `spec.behavior`s are the same once Kubernetes defaulted them: what
 * Scaleplane writes (only the keys set) and what the API server stores from it (every key) are.
 */
export function sameHpaBehavior(
  a: HpaBehavior | null | undefined,
  b: HpaBehavior | null | undefined,
): boolean {
  return sameJson(defaultedHpaBehavior(a), defaultedHpaBehavior(b));
}

/** describeHpaBehavior names a `spec.behavior` in a log line: `behavior {…}` as JSON, or `no behavior`. */
export function describeHpaBehavior(behavior: HpaBehavior | null | undefined): string {
  return behavior === undefined || behavior === null ? 'no behavior' : `behavior ${JSON.stringify(behavior)}`;
}
