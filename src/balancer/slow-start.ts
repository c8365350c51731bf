/** SLOW_START_MIN_FACTOR is the share of its weight a backend gets the moment it joins. */
export const SLOW_START_MIN_FACTOR = 0.1;

/**
 * slowStartWeight is a backend's weight `elapsed` ms after it joined, ramping linearly from
 * 10% to 100% of `weight` over `window` ms (no ramp when `window` is 0).
 */
export function slowStartWeight(weight: number, elapsed: number, window: number): number {
  if (window <= 0 || elapsed >= window) return weight;
  return weight * Math.max(SLOW_START_MIN_FACTOR, elapsed / window);
}
