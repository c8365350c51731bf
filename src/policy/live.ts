/**
 * livePolicy builds the policy the live controller runs from a group's scaling settings: HPA's
 * default behavior with the group's stabilization windows and tolerance, warm-up aware, plus the
 * default policy's panic on saturation when the group asks for it (a CPU pinned at 100 % hides how
 * much demand there is).
 */
import { HPA_SCALE_DOWN, HPA_SCALE_UP } from './presets.js';
import type { Panic, ScalingPolicy } from './types.js';

/** LiveScalingSettings is the slice of a group's resolved `scaling` config the policy reads. */
export interface LiveScalingSettings {
  tolerance: number;
  scaleDownStabilization: number;
  scaleUpStabilization: number;
  /** Panic mode; absent = off (a panic holds scale-down for its stable window). */
  panic?: Panic;
}

/** LIVE_PANIC is the default panic: KPA's 6 s / 200 % / 60 s, and 2× ready when saturated. */
export const LIVE_PANIC: Panic = { window: 6_000, threshold: 2, stableWindow: 60_000, saturationFactor: 2 };

/** livePolicy is the ScalingPolicy of one live group. */
export function livePolicy(name: string, min: number, max: number, s: LiveScalingSettings): ScalingPolicy {
  return {
    name,
    minInstances: min,
    maxInstances: max,
    scaleUp: { ...HPA_SCALE_UP, stabilizationWindow: s.scaleUpStabilization, tolerance: s.tolerance },
    scaleDown: { ...HPA_SCALE_DOWN, stabilizationWindow: s.scaleDownStabilization, tolerance: s.tolerance },
    unready: 'capacity',
    ...(s.panic && { panic: s.panic }),
  };
}
