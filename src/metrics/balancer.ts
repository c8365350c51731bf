/**
 * Balancer metric sources: requests in flight and requests per second of a group (from
 * Balancer.stats), and a latency percentile (from the prom-client histogram the balancer feeds).
 */
import type { Registry } from 'prom-client';
import { type MetricSource, MetricSourceError, readyCount, type SourceContext } from './source.js';

/** BalancerView is the part of the Balancer these sources read. */
export interface BalancerView {
  stats(group: string): { inFlight: number; requests: number };
}

/** InflightSource is the group's requests in flight (a total: target = in flight per instance). */
export class InflightSource implements MetricSource {
  readonly name = 'inflight';
  readonly kind = 'total' as const;
  readonly #balancer: BalancerView;
  constructor(balancer: BalancerView) {
    this.#balancer = balancer;
  }
  async read(context: SourceContext): Promise<number[]> {
    return [this.#balancer.stats(context.group).inFlight];
  }
  async close(): Promise<void> {}
}

/** RpsSource is the group's request rate between two reads (a total: target = req/s per instance). */
export class RpsSource implements MetricSource {
  readonly name = 'rps';
  readonly kind = 'total' as const;
  readonly #balancer: BalancerView;
  #previous: { requests: number; at: number } | undefined;
  constructor(balancer: BalancerView) {
    this.#balancer = balancer;
  }
  async read(context: SourceContext): Promise<number[]> {
    const requests = this.#balancer.stats(context.group).requests;
    const previous = this.#previous;
    this.#previous = { requests, at: context.now };
    if (!previous || context.now <= previous.at) {
      throw new MetricSourceError('SOURCE_NOT_READ', 'rps needs two reads');
    }
    // The count is a sum over the balancer's data-path workers; one that dies leaves the sum with
    // its count (its replacement starts at 0), so the count goes down. Read as max(0, delta) that
    // was a rate of 0 req/s under full traffic, a scale-down to min_instances without
    // stabilization. The rate over that interval is unknown: no value, and the next read measures
    // from this count.
    if (requests < previous.requests) {
      throw new MetricSourceError(
        'SOURCE_NOT_READ',
        `request count went down (${previous.requests} → ${requests}: a balancer worker replaced); rate from the next read`,
      );
    }
    return [((requests - previous.requests) * 1000) / (context.now - previous.at)];
  }
  async close(): Promise<void> {}
}

interface HistogramValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * LatencySource is a percentile of the group's request latency, in ms, over the requests since
 * the previous read. Latency is per instance in spirit: it reports the value once per ready
 * instance, so HPA's `ceil(ready × latency / target)` applies. An idle group reads 0 (see read).
 */
export class LatencySource implements MetricSource {
  readonly name = 'latency';
  readonly kind = 'average' as const;
  readonly #registry: Registry;
  readonly #quantile: number;
  readonly #metric: string;
  readonly #balancer: BalancerView | undefined;
  #previous: Map<number, number> | undefined;
  /** The group's request count at the previous read, when `balancer` is given (see #idle). */
  #previousRequests: number | undefined;
  /** Whether the last read's counts were below its baseline (kept once, see read). */
  #fellLast = false;
  /**
   * `balancer`: the group's request counts, which tell an idle group (no request came, none in
   * flight) from one whose requests do not complete; without it no request is always no value.
   */
  constructor(
    registry: Registry,
    percentile = 95,
    metric = 'scaleplane_request_duration_seconds',
    balancer?: BalancerView,
  ) {
    this.#registry = registry;
    this.#quantile = percentile / 100;
    this.#metric = metric;
    this.#balancer = balancer;
  }

  /**
   * #idle is whether no request came since the previous read and none is in flight; undefined
   * when not known (no balancer, a group it does not route, the first read).
   */
  #idle(group: string): boolean | undefined {
    if (this.#balancer === undefined) return undefined;
    let stats: { inFlight: number; requests: number };
    try {
      stats = this.#balancer.stats(group);
    } catch {
      return undefined;
    }
    const previous = this.#previousRequests;
    this.#previousRequests = stats.requests;
    return previous === undefined ? undefined : stats.requests === previous && stats.inFlight === 0;
  }

  async read(context: SourceContext): Promise<number[]> {
    const idle = this.#idle(context.group);
    const histogram = this.#registry.getSingleMetric(this.#metric);
    if (!histogram) throw new MetricSourceError('SOURCE_FAILED', `no metric ${this.#metric}`);
    const { values } = (await histogram.get()) as { values: HistogramValue[] };
    const buckets = new Map<number, number>();
    for (const v of values) {
      if (v.metricName !== `${this.#metric}_bucket` || v.labels.group !== context.group) continue;
      const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
      buckets.set(le, v.value);
    }
    const previous = this.#previous;
    if (!previous) {
      this.#previous = buckets;
      throw new MetricSourceError('SOURCE_NOT_READ', 'latency needs two reads');
    }
    // The histogram is a sum over the balancer's data-path workers, and a worker that does not
    // answer a read in time (its event loop busy, paused) is left out of it: the counts go down.
    // Taken as the baseline, the next read, with that worker back, counted its whole history as
    // requests since: after a worker paused through one read, 20 requests of 300 ms read as a p95
    // of 10 ms (its 500 earlier fast ones). A read whose counts went down keeps the baseline it
    // had; a second one in a row is a reset (a worker gone with requests it never reported).
    const fell = [...previous].some(([le, count]) => (buckets.get(le) ?? 0) < count);
    if (fell) {
      if (this.#fellLast) this.#previous = buckets;
      this.#fellLast = !this.#fellLast;
      throw new MetricSourceError('SOURCE_NOT_READ', 'request counts went down (a balancer worker left out)');
    }
    this.#fellLast = false;
    this.#previous = buckets;
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    const delta = bounds.map((le) => (buckets.get(le) ?? 0) - (previous.get(le) ?? 0));
    const total = delta.at(-1) ?? 0;
    if (total <= 0) {
      // An idle group (no request came, none in flight) has no latency to bring down: 0, so it
      // scales in on its other metrics. Before, it had no value, as a missing metric, and a group
      // scaled on latency never scaled in once its traffic stopped (10 instances stayed 10 all
      // night). Requests that came and have not completed (backends that hang) are no value: a
      // latency of 0 then would scale in the group that is stuck.
      if (idle === true) return Array.from({ length: readyCount(context.instances) }, () => 0);
      throw new MetricSourceError('SOURCE_NOT_READ', 'no requests completed since the last read');
    }
    const rank = this.#quantile * total;
    let index = delta.findIndex((count) => count >= rank);
    if (index === -1) index = bounds.length - 1;
    // The upper bound of the bucket the percentile falls in (Prometheus would interpolate).
    const upper = bounds[index] === Number.POSITIVE_INFINITY ? (bounds[index - 1] ?? 0) : bounds[index]!;
    const ms = upper * 1000;
    return Array.from({ length: readyCount(context.instances) }, () => ms);
  }
  async close(): Promise<void> {}
}
