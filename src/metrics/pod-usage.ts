/**
 * CPU and memory of instances that are no local processes (Kubernetes pods), as the engine
 * measures them (metrics-server's PodMetrics) and as the HPA reads a Resource metric from them:
 * utilization = Σ usage × 100 / Σ requests over the ready pods with a measurement. Ready pods
 * without one are the HPA's missing pods, starting ones its unready; never a 0.
 */
import type { CpuMetricConfig, MemoryMetricConfig } from '../config/index.js';
import type { ObservedMetric } from '../policy/index.js';
import type { Instance, PodUsage } from '../providers/index.js';

/**
 * CpuReadiness are the HPA's two periods of a pod's start (kube-controller-manager flags
 * `--horizontal-pod-autoscaler-cpu-initialization-period` and `--horizontal-pod-autoscaler-initial-readiness-delay`).
 */
export interface CpuReadiness {
  /** While this long since the pod started, its CPU counts only once sampled a window after it became Ready, ms. @defaultValue 300000 (5 min) */
  cpuInitializationPeriod: number;
  /** Past that period, a not-Ready pod counts unless it has never been Ready since within this of its start, ms. @defaultValue 30000 */
  initialReadinessDelay: number;
}

/** HPA_CPU_READINESS are the kube-controller-manager's defaults: 5 min and 30 s. */
export const HPA_CPU_READINESS: CpuReadiness = {
  cpuInitializationPeriod: 300_000,
  initialReadinessDelay: 30_000,
};

/**
 * cpuSampleUnready says whether a pod's CPU sample is left out as unready (0 on a scale-up), as
 * the HPA's groupPods (pkg/controller/podautoscaler/replica_calculator.go) decides: a pod without
 * a Ready condition or a start time is; within `cpuInitializationPeriod` of its start, one not
 * Ready or whose sample was taken before one window had passed since it became Ready (its start-up
 * CPU: compiling, warming caches) is; past it, only one not Ready that has never been Ready since
 * `initialReadinessDelay` after its start. `now` is the wall clock: the pod's times are the
 * cluster's. A usage without pod facts (not from Kubernetes) is never left out here.
 */
export function cpuSampleUnready(
  usage: PodUsage,
  now: number,
  readiness: CpuReadiness = HPA_CPU_READINESS,
): boolean {
  if (usage.pod === undefined) return false;
  const { ready, startedAt } = usage.pod;
  if (ready === undefined || startedAt === undefined) return true;
  // A condition without lastTransitionTime is Go's zero time: long ago.
  const since = ready.since ?? Number.NEGATIVE_INFINITY;
  if (startedAt + readiness.cpuInitializationPeriod > now) {
    // No sample time or window is Go's zero: taken before it became Ready.
    return (
      ready.status === 'False' ||
      (usage.sampledAt ?? Number.NEGATIVE_INFINITY) < since + (usage.windowMs ?? 0)
    );
  }
  return ready.status === 'False' && startedAt + readiness.initialReadinessDelay > since;
}

/** NOT_READ_YET is the reading's error before the first read answered: missing, but nothing failed. */
export const NOT_READ_YET = 'PodMetrics not read yet';

/**
 * podUsageReading is the `cpu` or `memory` reading of `instances` from their usages, the pods
 * grouped as the HPA's groupPods groups them: terminating and failed ones left out; Pending ones
 * (or starting ones not read yet) unready; one without a measurement missing, even Running and not
 * Ready; a measured one counts, for memory even when not Ready, for CPU unless `cpuSampleUnready`
 * (at wall-clock `now`). CPU is always
 * a percent of requests (the HPA's Utilization); memory as its `targetType` says. A pod measured
 * without a request for the resource makes utilization undefined: an `error` naming it, as the HPA
 * reports "missing request for cpu in container … of Pod …" and does not scale on the metric. No
 * ceiling: usage runs past requests up to the limit.
 */
export function podUsageReading(
  instances: readonly Instance[],
  usages: ReadonlyMap<string, PodUsage>,
  metric: CpuMetricConfig | MemoryMetricConfig,
  now: number = Date.now(),
  readiness: CpuReadiness = HPA_CPU_READINESS,
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
    if (instance.state !== 'ready' && instance.state !== 'starting') continue;
    const usage = usages.get(instance.id);
    const phase = usage?.pod?.phase;
    if (phase === 'Pending' || (instance.state === 'starting' && phase === undefined)) unready++;
    else if (usage?.[resource] === undefined) missing++;
    else if (resource === 'cpu' && cpuSampleUnready(usage, now, readiness)) unready++;
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
  /** The wall clock the pods' start and Ready times are compared with. @defaultValue Date.now */
  wallClock?: () => number;
  /** The HPA's CPU start-up periods. @defaultValue HPA_CPU_READINESS (5 min, 30 s) */
  readiness?: CpuReadiness;
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
    const wallNow = (this.#options.wallClock ?? Date.now)();
    return podUsageReading(instances, this.#last.usages, metric, wallNow, this.#options.readiness);
  }
}
