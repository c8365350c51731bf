/**
 * CPU and memory of instances that are no local processes (Kubernetes pods), as the engine
 * measures them (metrics-server's PodMetrics) and as the HPA reads a Resource metric from them:
 * utilization = Σ usage × 100 / Σ requests over the ready pods with a measurement. Ready pods
 * without one are the HPA's missing pods, starting ones its unready; never a 0.
 */
import type { CpuMetricConfig, MemoryMetricConfig } from '../config/index.js';
import type { ObservedMetric } from '../policy/index.js';
import type { Instance, PodUsage } from '../providers/index.js';

/** NOT_READ_YET is the reading's error before the first read answered: missing, but nothing failed. */
export const NOT_READ_YET = 'PodMetrics not read yet';

/**
 * podUsageReading is the `cpu` or `memory` reading of `instances` from their usages. CPU is always
 * a percent of requests (the HPA's Utilization); memory as its `targetType` says. A pod measured
 * without a request for the resource makes utilization undefined: an `error` naming it, as the HPA
 * reports "missing request for cpu in container … of Pod …" and does not scale on the metric. No
 * ceiling: usage runs past requests up to the limit.
 */
export function podUsageReading(
  instances: readonly Instance[],
  usages: ReadonlyMap<string, PodUsage>,
  metric: CpuMetricConfig | MemoryMetricConfig,
): ObservedMetric {
  const resource = metric.type;
  const averageValue = metric.type === 'memory' && metric.targetType === 'AverageValue';
  const base = {
    name: resource,
    target: metric.target,
    kind: averageValue ? 'average' : 'utilization',
    ...(averageValue && { unit: 'bytes' as const }),
  } as const;
  const measured: PodUsage[] = [];
  let missing = 0;
  let unready = 0;
  for (const instance of instances) {
    if (instance.state === 'starting') unready++;
    if (instance.state !== 'ready') continue;
    const usage = usages.get(instance.id);
    if (usage?.[resource] === undefined) missing++;
    else measured.push(usage);
  }
  if (averageValue) return { ...base, values: measured.map((u) => u[resource]!), missing, unready };
  // Any pod without a request, measured or not, fails the metric, as the HPA's calculateRequests
  // runs over every listed pod (pkg/controller/podautoscaler/replica_calculator.go).
  const unrequested =
    instances.map((i) => usages.get(i.id)).find((u) => u?.missingRequest?.[resource] !== undefined) ??
    measured.find((u) => !(u.requests[resource]! > 0));
  if (unrequested) {
    const why =
      unrequested.missingRequest?.[resource] ?? `missing request for ${resource} of Pod ${unrequested.id}`;
    return { ...base, values: [], missing, unready, error: `${why}: utilization is a percent of requests` };
  }
  // Each value is the pod's usage in percent of the pods' mean request, so the mean of the values
  // is Σ usage / Σ requests, the HPA's utilization, also while a resize mixes two sizes.
  const meanRequest = measured.reduce((sum, u) => sum + u.requests[resource]!, 0) / (measured.length || 1);
  return { ...base, values: measured.map((u) => (u[resource]! * 100) / meanRequest), missing, unready };
}

/** PodUsagePollerOptions wire one group's poller to its provider. */
export interface PodUsagePollerOptions {
  readPodUsage: () => Promise<PodUsage[]>;
  /** Least time between two reads, ms. */
  interval: number;
  /** A read older than this is stale: the metric is missing, ms. */
  maxAgeMs: number;
}

/**
 * PodUsagePoller reads a group's pod usages at most every `interval`, one read at a time, and
 * keeps the last answer, or why the last read failed.
 */
export class PodUsagePoller {
  readonly #options: PodUsagePollerOptions;
  #last: { at: number; usages: Map<string, PodUsage> } | undefined;
  #error: string | undefined = NOT_READ_YET;
  #reading = false;
  #startedAt = Number.NEGATIVE_INFINITY;

  constructor(options: PodUsagePollerOptions) {
    this.#options = options;
  }

  /** poll starts a read unless one is running or the last started under `interval` ago. */
  poll(now: number): Promise<void> | undefined {
    if (this.#reading || now - this.#startedAt < this.#options.interval) return undefined;
    this.#reading = true;
    this.#startedAt = now;
    return this.#options
      .readPodUsage()
      .then(
        (usages) => {
          this.#last = { at: now, usages: new Map(usages.map((u) => [u.id, u])) };
          this.#error = undefined;
        },
        (err: unknown) => {
          this.#error = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        this.#reading = false;
      });
  }

  /** read is the metric's reading at `now`: an `error` while the reads fail or went stale. */
  read(
    instances: readonly Instance[],
    metric: CpuMetricConfig | MemoryMetricConfig,
    now: number,
  ): ObservedMetric {
    const failed = (error: string): ObservedMetric => ({
      name: metric.type,
      target: metric.target,
      values: [],
      error,
    });
    if (this.#error !== undefined) return failed(this.#error);
    if (!this.#last || now - this.#last.at > this.#options.maxAgeMs)
      return failed(`stale: no PodMetrics read for ${this.#options.maxAgeMs} ms`);
    return podUsageReading(instances, this.#last.usages, metric);
  }
}
