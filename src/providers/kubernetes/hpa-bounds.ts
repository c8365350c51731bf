// The minReplicas/maxReplicas Scaleplane writes into its HPA in `mode: hpa`. Pure: the provider
// writes what `hpaBounds` gives (at start, after a config reload, around a scale).

/** HpaBounds is an HPA's minReplicas and maxReplicas (or min/max_instances, from which they come). */
export interface HpaBounds {
  min: number;
  max: number;
}

/**
 * hpaBounds is the minReplicas/maxReplicas to give the HPA while min/max_instances are `configured`
 * and its target's replicas are, or are about to be, each of `counts`: the configured bounds,
 * widened just enough to hold every count, and minReplicas at least 1 (the API refuses 0 unless the
 * HPAScaleToZero feature gate is on). The HPA brings replicas outside its bounds inside at its next
 * sync (`Current number of replicas above Spec.MaxReplicas`), deleting pods nobody drained; so the
 * bounds reach the configured ones once the count is inside them, after the controller's drained
 * scale-in or its scale-out to the new minimum.
 */
export function hpaBounds(configured: HpaBounds, counts: readonly number[]): HpaBounds {
  return {
    min: Math.max(1, Math.min(configured.min, ...counts)),
    max: Math.max(configured.max, ...counts),
  };
}
