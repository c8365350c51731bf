/**
 * The bounds of `scaleplane_request_duration_seconds`. The `latency` scaling metric reads its
 * percentile from this histogram as the upper bound of the bucket the percentile falls in, so the
 * buckets decide what a latency can read as. With only the general-purpose bounds, every latency in
 * (100 ms, 250 ms] read 250 ms: a group whose requests all took 120 ms, against a target of 200 ms,
 * read 250 vs 200 at every decision and was scaled out one step after another up to max_instances,
 * under one request at a time. So each configured latency target adds bounds around itself, as
 * Prometheus's practices advise buckets around an SLO: a latency at or below the target then reads
 * at most the target, one a little above it reads within HPA's default tolerance, and one well
 * below it reads low enough to scale in.
 */

/** DEFAULT_REQUEST_DURATION_BUCKETS are the general-purpose bounds, in seconds. */
export const DEFAULT_REQUEST_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * AROUND_TARGET are the bounds each latency target adds, as fractions of it. 1.05, not 1.1: a
 * latency just above the target reads 1.05 × target, within the default tolerance (0.1), where a
 * bound at exactly 1.1 would sit on the tolerance's edge.
 */
const AROUND_TARGET = [0.5, 0.75, 0.9, 1, 1.05, 1.25, 1.5, 2];

/**
 * requestDurationBuckets is the histogram's bounds, in seconds, for the latency targets given in
 * ms: the defaults and, per target, the bounds around it; sorted, without duplicates, each rounded
 * to 6 significant digits so that `le` reads `0.22`, not `0.22000000000000003`.
 */
export function requestDurationBuckets(latencyTargetsMs: readonly number[]): number[] {
  const bounds = new Set(DEFAULT_REQUEST_DURATION_BUCKETS);
  for (const target of latencyTargetsMs) {
    if (!(target > 0) || !Number.isFinite(target)) continue;
    for (const factor of AROUND_TARGET) bounds.add(Number(((target * factor) / 1000).toPrecision(6)));
  }
  return [...bounds].sort((a, b) => a - b);
}
