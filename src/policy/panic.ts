/**
 * Knative KPA's panic mode (pkg/autoscaler/scaling/autoscaler.go), as a pure stage:
 *
 *   panicDesired = ceil(average load over the panic window)      (load = instances needed at target)
 *   over         = panicDesired / max(1, ready) >= threshold       (200 % by default)
 *   start or extend panic when over; end it once `stableWindow` passed since the last time over;
 *   while panicking the count only grows: max(stable answer, the most panic asked for).
 *
 * Scaleplane adds one thing KPA does not need: a CPU-like metric stuck at its ceiling hides how
 * much demand there is, so a saturated sample counts as over and asks for `saturationFactor` × ready.
 */
import type { LoadSample, Panic, StageReason } from './types.js';

/** PanicState is the panic part of the policy state. */
export interface PanicState {
  panicSince?: number;
  panicLastOver?: number;
  panicMax?: number;
}

/** windowAverage is the mean load of samples within `window` before `now`, and whether any saturated. */
export function windowAverage(
  samples: readonly LoadSample[],
  window: number,
  now: number,
): { average: number; saturated: boolean } | null {
  let sum = 0;
  let n = 0;
  let saturated = false;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    if (s.at <= now - window) break;
    sum += s.load;
    n++;
    saturated ||= s.saturated;
  }
  return n === 0 ? null : { average: sum / n, saturated };
}

/** panicStage decides whether the group panics and the floor panic puts under the count. */
export function panicStage(
  spec: Panic,
  samples: readonly LoadSample[],
  ready: number,
  current: number,
  state: PanicState,
  now: number,
): { floor: number; noScaleDown: boolean; reason?: StageReason; state: PanicState } {
  const observed = windowAverage(samples, spec.window, now);
  let panicDesired = observed ? Math.ceil(observed.average - 1e-9) : 0;
  let saturated = false;
  if (observed?.saturated && spec.saturationFactor > 0) {
    saturated = true;
    panicDesired = Math.max(panicDesired, Math.ceil(Math.max(1, ready) * spec.saturationFactor));
  }
  const over = observed !== null && (saturated || panicDesired / Math.max(1, ready) >= spec.threshold);

  let { panicSince, panicLastOver, panicMax } = state;
  let reason: StageReason | undefined;
  if (over) {
    reason = panicSince === undefined ? 'PanicStarted' : 'Panicking';
    if (saturated) reason = 'Saturated';
    panicSince ??= now;
    panicLastOver = now;
  } else if (
    panicSince !== undefined &&
    panicLastOver !== undefined &&
    now - panicLastOver >= spec.stableWindow
  ) {
    return { floor: 0, noScaleDown: false, reason: 'PanicEnded', state: {} };
  }
  if (panicSince === undefined) return { floor: 0, noScaleDown: false, state: {} };
  panicMax = Math.max(panicMax ?? 0, panicDesired, current);
  return {
    floor: panicMax,
    noScaleDown: true,
    reason: reason ?? 'PanicHold',
    state: { panicSince, panicLastOver, panicMax },
  };
}
