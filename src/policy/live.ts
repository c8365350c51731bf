/**
 * livePolicy builds the policy the live controller runs from a group's scaling settings. Without a
 * named preset: HPA's default behavior with the group's stabilization windows and tolerance, warm-up
 * aware. With one (`policy: default|hpa|hpa-behavior|kpa|keda|step|simple|predictive`): that preset, the one the
 * simulator replays. Either way the group's explicit settings (rate policies, panic, predictive,
 * activation) go on top. Panic is never implied by the base: it holds scale-down for its stable
 * window, so a group opts in (`panic:` or a preset that includes it).
 *
 * groupPolicy is the one way from a group's config to its policy, for the live controller and for
 * `scaleplane simulate --config` alike: the group's start-up (`groupStartup`, or the one the live
 * controller learnt) and the controller's decision interval set a preset's forecast horizon.
 */
import type { GroupConfig, ScalingConfig } from '../config/index.js';
import { HPA_SCALE_DOWN, HPA_SCALE_UP, type PresetName, presetPolicy } from './presets.js';
import type { Activation, Panic, Predictive, RatePolicy, ScalingPolicy, SelectPolicy } from './types.js';

/** LiveRate is one direction's rate policies as configured. */
export interface LiveRate {
  selectPolicy: SelectPolicy;
  policies: readonly RatePolicy[];
}

/** LiveScalingSettings is the slice of a group's resolved `scaling` config the policy reads. */
export interface LiveScalingSettings {
  /** Named preset the group starts from; absent: HPA behavior, warm-up aware. */
  preset?: PresetName;
  /** Both directions unless a per-direction tolerance is set. */
  tolerance: number;
  scaleUpTolerance?: number;
  scaleDownTolerance?: number;
  scaleDownStabilization: number;
  scaleUpStabilization: number;
  /** Rate policies; absent: the base's (HPA: +100 %/+4 per 15 s up, −100 % per 15 s down). */
  scaleUpRate?: LiveRate;
  scaleDownRate?: LiveRate;
  /** The group's `behavior` sets something: the documented rules even where the preset has none. */
  behaviorSet?: boolean;
  /** Panic mode; absent = the base's (off unless the preset has it); null = off. */
  panic?: Panic | null;
  /** Forecasting; absent = the base's; null = off. */
  predictive?: Predictive | null;
  /** Scale to zero (KEDA); absent = the base's; null = off. */
  activation?: Activation | null;
  /** Instance start-up time, ms, for a preset's forecast horizon. @defaultValue DEFAULT_STARTUP */
  startup?: number;
  /** Decision interval, ms, for a preset's forecast horizon. @defaultValue DEFAULT_INTERVAL */
  interval?: number;
}

/** DEFAULT_STARTUP is the instance start-up assumed when the config does not tell (local, kubernetes), ms. */
export const DEFAULT_STARTUP = 10_000;

/** DEFAULT_INTERVAL is `controller.interval`'s default, ms. */
export const DEFAULT_INTERVAL = 15_000;

/** LIVE_PANIC is the default panic: KPA's 6 s / 200 % / 60 s, and 2× ready when saturated. */
export const LIVE_PANIC: Panic = { window: 6_000, threshold: 2, stableWindow: 60_000, saturationFactor: 2 };

/** presetBehaviorDefaults are a preset's tolerances and windows, for config defaults. */
export function presetBehaviorDefaults(preset: PresetName | undefined): {
  scaleUpTolerance: number;
  scaleDownTolerance: number;
  scaleUpStabilization: number;
  scaleDownStabilization: number;
} {
  const p = preset
    ? presetPolicy(preset, { minInstances: 0, maxInstances: 1, startup: 0, interval: 0 }).policy
    : { scaleUp: HPA_SCALE_UP, scaleDown: HPA_SCALE_DOWN };
  return {
    scaleUpTolerance: p.scaleUp.tolerance,
    scaleDownTolerance: p.scaleDown.tolerance,
    scaleUpStabilization: p.scaleUp.stabilizationWindow,
    scaleDownStabilization: p.scaleDown.stabilizationWindow,
  };
}

/** livePolicy is the ScalingPolicy of one live group. */
export function livePolicy(name: string, min: number, max: number, s: LiveScalingSettings): ScalingPolicy {
  const base: ScalingPolicy = s.preset
    ? presetPolicy(s.preset, {
        minInstances: min,
        maxInstances: max,
        startup: s.startup ?? DEFAULT_STARTUP,
        interval: s.interval ?? DEFAULT_INTERVAL,
      }).policy
    : {
        name,
        minInstances: min,
        maxInstances: max,
        scaleUp: HPA_SCALE_UP,
        scaleDown: HPA_SCALE_DOWN,
        unready: 'capacity',
      };
  const { panic, predictive, activation, ...rest } = base;
  const pick = <T>(own: T | null | undefined, inherited: T | undefined): T | undefined =>
    own === null ? undefined : (own ?? inherited);
  const panicked = pick(s.panic, panic);
  const predicted = pick(s.predictive, predictive);
  const activated = pick(s.activation, activation);
  return {
    ...rest,
    name,
    minInstances: min,
    maxInstances: max,
    scaleUp: {
      ...base.scaleUp,
      ...s.scaleUpRate,
      stabilizationWindow: s.scaleUpStabilization,
      tolerance: s.scaleUpTolerance ?? s.tolerance,
    },
    scaleDown: {
      ...base.scaleDown,
      ...s.scaleDownRate,
      stabilizationWindow: s.scaleDownStabilization,
      tolerance: s.scaleDownTolerance ?? s.tolerance,
    },
    // Kubernetes: an HPA given any behavior runs the documented rules, not the older path.
    ...(s.behaviorSet && { normalization: 'behavior' as const }),
    ...(panicked && { panic: panicked }),
    ...(predicted && { predictive: predicted }),
    ...(activated && { activation: activated }),
  };
}

/** GroupTiming is what shapes a group's forecast horizon besides its own settings (all ms). */
export interface GroupTiming {
  /** `controller.interval`: how often the group is decided. */
  interval: number;
  /** Instance start-up time. @defaultValue groupStartup(group) */
  startup?: number;
}

/**
 * providerStartup is the start-up a group's provider implies when nothing better is known, ms: an AWS
 * group's `instance_warmup` (an instance counts as ready that long after it is InService; its launch
 * and boot before that come on top and are not in the config), else DEFAULT_STARTUP — a local
 * process or a pod says nothing in the config about how long it takes to become ready.
 */
export function providerStartup(group: Pick<GroupConfig, 'provider'>): number {
  return group.provider.provider === 'aws' ? group.provider.instanceWarmup : DEFAULT_STARTUP;
}

/**
 * groupStartup is a group's instance start-up time as far as its config knows, ms: `scaling.startup`
 * when set, else providerStartup. The live controller learns it from the instances it starts when
 * `scaling.startup` is not set (controller/group.ts, policy/startup.ts).
 */
export function groupStartup(group: Pick<GroupConfig, 'provider' | 'scaling'>): number {
  return group.scaling?.startup ?? providerStartup(group);
}

/**
 * groupPolicy is THE policy of a configured group: what the live controller runs and what
 * `scaleplane simulate --config` replays. Undefined when the group has no `scaling` (scaled by
 * hand). A preset's forecast horizon is the group's start-up + the decision interval.
 */
export function groupPolicy(
  group: Pick<GroupConfig, 'name' | 'minInstances' | 'maxInstances' | 'scaling' | 'provider'>,
  timing: GroupTiming,
): ScalingPolicy | undefined {
  const { scaling, name, minInstances, maxInstances } = group;
  if (!scaling) return undefined;
  return livePolicy(
    name,
    minInstances,
    maxInstances,
    liveSettings(scaling, { interval: timing.interval, startup: timing.startup ?? groupStartup(group) }),
  );
}

/** liveSettings maps a group's resolved `scaling` config and timing onto the policy's live settings. */
export function liveSettings(scaling: ScalingConfig, timing: Required<GroupTiming>): LiveScalingSettings {
  return {
    tolerance: scaling.tolerance,
    scaleUpStabilization: scaling.scaleUpStabilization,
    scaleDownStabilization: scaling.scaleDownStabilization,
    startup: timing.startup,
    interval: timing.interval,
    ...(scaling.policy !== undefined && { preset: scaling.policy }),
    ...(scaling.scaleUpTolerance !== undefined && { scaleUpTolerance: scaling.scaleUpTolerance }),
    ...(scaling.scaleDownTolerance !== undefined && { scaleDownTolerance: scaling.scaleDownTolerance }),
    ...(scaling.scaleUpRate !== undefined && { scaleUpRate: scaling.scaleUpRate }),
    ...(scaling.scaleDownRate !== undefined && { scaleDownRate: scaling.scaleDownRate }),
    ...(scaling.behaviorSet && { behaviorSet: true }),
    ...(scaling.panic !== undefined && { panic: scaling.panic }),
    ...(scaling.predictive !== undefined && { predictive: scaling.predictive }),
    ...(scaling.activation !== undefined && { activation: scaling.activation }),
  };
}
