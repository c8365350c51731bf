/**
 * A load sample is the largest load over a group's metrics. When one of them cannot be read, the
 * largest over the rest is only a lower bound of the load, yet the panic window and the forecast's
 * history take a sample as the load itself: a forecast that learnt an outage of its Prometheus
 * source at low CPU provisions too little at that hour the next day or week. So a sample is only
 * taken when every configured metric was read; isMissingMetric says when one was not.
 */
import type { ObservedMetric } from '../policy/index.js';

/**
 * isMissingMetric is true when the reading tells nothing of the metric's load: its source failed or
 * is stale (`error`), or every ready instance lacks a sample (all of them stale memory, say). No
 * values and no instance lacking one is no ready instance at all: a per-instance load of zero, so
 * a group at zero instances still samples its queue. One instance lacking a sample among others
 * is HPA's missing pod, read as the others' sum, and not counted here.
 */
export function isMissingMetric(reading: ObservedMetric): boolean {
  return reading.error !== undefined || (reading.values.length === 0 && (reading.missing ?? 0) > 0);
}
