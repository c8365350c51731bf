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

/**
 * METRICS_RESOLUTION_MS is metrics-server's default `--metric-resolution` (how often it scrapes
 * the kubelets, the `window` its PodMetrics report) and the HPA's default sync period
 * (`--horizontal-pod-autoscaler-sync-period`): 15 s. Reading PodMetrics more often gets the same
 * samples again.
 */
export const METRICS_RESOLUTION_MS = 15_000;

/** FIRST_RETRY_MS is how soon a failed read is retried the first time. */
const FIRST_RETRY_MS = 1000;

/** MAX_POLL_MS bounds the time between two reads, however long a window metrics-server reports. */
export const MAX_POLL_MS = 60_000;

/**
 * pollDelay is how long after a read started the next one is due, from what it brought:
 * - failed (`failures` in a row): 1 s (or `interval`, if longer), doubled per failure up to
 *   METRICS_RESOLUTION_MS, so a missing metrics-server is no LIST per second, and a blip is
 *   retried soon;
 * - a new sample (some pod's `sampledAt` moved, or a first read): the samples' `window`, the
 *   resolution metrics-server scrapes at (METRICS_RESOLUTION_MS when none says), clamped to
 *   [`interval`, MAX_POLL_MS]: its next sample is not there before;
 * - the same samples again (metrics-server had not scraped since, or scraped none of the pods yet):
 *   a third of that, the next scrape being near.
 */
export function pollDelay(
  read: readonly PodUsage[] | { failures: number },
  previous: ReadonlyMap<string, PodUsage> | undefined,
  interval: number,
): number {
  if (!Array.isArray(read)) {
    const { failures } = read as { failures: number };
    const first = Math.max(interval, FIRST_RETRY_MS);
    return Math.min(first * 2 ** Math.max(0, failures - 1), Math.max(first, METRICS_RESOLUTION_MS));
  }
  const usages = read as readonly PodUsage[];
  const windows = usages.flatMap((u) => (u.windowMs !== undefined && u.windowMs > 0 ? [u.windowMs] : []));
  const resolution = windows.length > 0 ? Math.max(...windows) : METRICS_RESOLUTION_MS;
  const period = Math.min(Math.max(resolution, interval), MAX_POLL_MS);
  const fresh =
    previous === undefined ||
    usages.some((u) => u.sampledAt !== undefined && u.sampledAt !== previous.get(u.id)?.sampledAt);
  return fresh ? period : Math.max(interval, Math.round(period / 3));
}

/** PodUsagePollerOptions wire one group's poller to its provider. */
export interface PodUsagePollerOptions {
  readPodUsage: () => Promise<PodUsage[]>;
  /** Least time between two reads, ms. */
  interval: number;
  /**
   * A read older than this is stale: the metric is missing, ms. At least three of the reads'
   * periods (see pollDelay): a read is not stale for the time until the next is due.
   */
  maxAgeMs: number;
  /** The wall clock the pods' start and Ready times are compared with. @defaultValue Date.now */
  wallClock?: () => number;
  /** The HPA's CPU start-up periods. @defaultValue HPA_CPU_READINESS (5 min, 30 s) */
  readiness?: CpuReadiness;
}

/**
 * PodUsagePoller reads a group's pod usages when the next sample can be there (see pollDelay), one
 * read at a time, and keeps the last answer, or why the last read failed. Before, it read every
 * `interval` (1 s): fifteen LISTs of PodMetrics per metrics-server sample, fourteen of them the
 * same samples again.
 */
export class PodUsagePoller {
  readonly #options: PodUsagePollerOptions;
  #last: { at: number; usages: Map<string, PodUsage> } | undefined;
  #error: string | undefined = NOT_READ_YET;
  #reading = false;
  /** When the next read is due (the poll's clock). */
  #dueAt = Number.NEGATIVE_INFINITY;
  #failures = 0;
  #staleAfter: number;

  constructor(options: PodUsagePollerOptions) {
    this.#options = options;
    this.#staleAfter = Math.max(options.maxAgeMs, 3 * METRICS_RESOLUTION_MS);
  }

  /** poll starts a read unless one is running or the next is not due yet. */
  poll(now: number): Promise<void> | undefined {
    if (this.#reading || now < this.#dueAt) return undefined;
    this.#reading = true;
    const { interval } = this.#options;
    // Due again after `interval` should the read hang past it: one read at a time all the same.
    this.#dueAt = now + interval;
    return this.#options
      .readPodUsage()
      .then(
        (usages) => {
          const delay = pollDelay(usages, this.#last?.usages, interval);
          this.#dueAt = now + delay;
          this.#staleAfter = Math.max(this.#options.maxAgeMs, 3 * delay);
          this.#last = { at: now, usages: new Map(usages.map((u) => [u.id, u])) };
          this.#error = undefined;
          this.#failures = 0;
        },
        (err: unknown) => {
          this.#failures++;
          this.#dueAt = now + pollDelay({ failures: this.#failures }, undefined, interval);
          this.#error = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        this.#reading = false;
      });
  }

  /**
   * latestSample is when metrics-server took the newest sample the last read brought (the latest
   * PodMetrics `timestamp`), on the wall clock, and that clock's time now; undefined before a read
   * answered or when no pod was measured. A sample steps once per metrics-server resolution (15 s)
   * however often it is read: its time tells a new one from the same one read again.
   */
  latestSample(): { sampledAt: number; wallNow: number } | undefined {
    if (this.#last === undefined || this.#error !== undefined) return undefined;
    let sampledAt = Number.NEGATIVE_INFINITY;
    for (const usage of this.#last.usages.values())
      if (usage.sampledAt !== undefined && usage.sampledAt > sampledAt) sampledAt = usage.sampledAt;
    if (sampledAt === Number.NEGATIVE_INFINITY) return undefined;
    return { sampledAt, wallNow: (this.#options.wallClock ?? Date.now)() };
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
    if (!this.#last || now - this.#last.at > this.#staleAfter)
      return failed(`stale: no PodMetrics read for ${this.#staleAfter} ms`);
    const wallNow = (this.#options.wallClock ?? Date.now)();
    return podUsageReading(instances, this.#last.usages, metric, wallNow, this.#options.readiness);
  }
}
