/** Bucket is a cumulative histogram bucket: observations <= le. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * histogramQuantile estimates the q-quantile (0..1) from cumulative buckets the way Prometheus'
 * `histogram_quantile` does: find the bucket holding the rank and interpolate linearly inside it.
 * Returns null when there are no observations; the upper bound of the last finite bucket when the
 * rank falls into `+Inf`.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (!Number.isFinite(bucket.le)) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      if (inBucket <= 0) return bucket.le;
      return lowerBound + (bucket.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}

/** bucketDelta subtracts an earlier cumulative snapshot from a later one (same bounds), per bucket. */
export function bucketDelta(later: readonly Bucket[], earlier: readonly Bucket[] | undefined): Bucket[] {
  const before = new Map((earlier ?? []).map((b) => [b.le, b.count]));
  return later.map((b) => ({ le: b.le, count: Math.max(0, b.count - (before.get(b.le) ?? 0)) }));
}
