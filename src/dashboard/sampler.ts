import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import { monotonicNow } from '../clock.js';
import { type Bucket, bucketDelta, histogramQuantile } from './quantile.js';
import type { DashboardSample, GroupSummary } from './types.js';

/** METRIC_NAMES are the series of src/metrics/registry.ts the sampler reads. */
export const METRIC_NAMES = {
  requests: 'scaleplane_requests_total',
  duration: 'scaleplane_request_duration_seconds',
  cpu: 'scaleplane_group_cpu_percent',
  inFlight: 'scaleplane_inflight_requests',
} as const;

/** LiveSamplerOptions configures a LiveSampler. */
export interface LiveSamplerOptions {
  registry: Registry;
  /** Every group's current summary (counts, bounds, instances). */
  groups: () => GroupSummary[];
  /** @defaultValue 1000 (ms) */
  intervalMs?: number;
  /** Samples kept per group for a newly opened dashboard. @defaultValue 900 (15 min at 1 s) */
  historySize?: number;
  /**
   * @defaultValue monotonicNow, the decision clock (clock.ts) the journal's times and so the chart's
   * decision marks are on. With Date.now, a step of the system clock put the samples off the marks by
   * the step until a restart (10 min back: every later decision was past the chart's end, so never
   * drawn), and the tick across it showed no rate (a step back) or the rate over the step (forward).
   */
  now?: () => number;
}

/** LiveSamplerEvents: `tick` after every sample, `error` never thrown (a failed read is skipped). */
export interface LiveSamplerEvents {
  tick: [samples: Record<string, DashboardSample>, groups: GroupSummary[]];
}

interface Snapshot {
  t: number;
  total: number;
  failed: number;
  buckets: Bucket[];
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}

/**
 * LiveSampler turns Scaleplane's Prometheus series into per-group time series for the dashboard:
 * each interval it reads the registry, turns counters into rates and histogram buckets into
 * p50/p99 over that interval (as `histogram_quantile(rate(...))` would), and keeps a bounded history.
 */
export class LiveSampler extends EventEmitter<LiveSamplerEvents> {
  readonly intervalMs: number;
  readonly #options: LiveSamplerOptions;
  readonly #history = new Map<string, DashboardSample[]>();
  readonly #previous = new Map<string, Snapshot>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: LiveSamplerOptions) {
    super();
    this.#options = options;
    this.intervalMs = options.intervalMs ?? 1000;
    this.#now = options.now ?? monotonicNow;
  }

  /** start samples every interval until close; safe to call twice. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.sample(), this.intervalMs);
    this.#timer.unref();
    void this.sample();
  }

  /** close stops sampling; safe to call twice. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** history returns the kept samples of every group, oldest first. */
  history(): Record<string, DashboardSample[]> {
    return Object.fromEntries([...this.#history].map(([group, samples]) => [group, [...samples]]));
  }

  /**
   * groups returns the summaries as they are now: a stream's hello that took the last sample's
   * showed a dashboard opened just after a scale the old count for up to a tick.
   */
  groups(): GroupSummary[] {
    return this.#options.groups();
  }

  /** sample takes one sample of every group now and emits `tick`. Exposed for tests. */
  async sample(): Promise<Record<string, DashboardSample>> {
    if (this.#running) return {};
    this.#running = true;
    try {
      const t = this.#now();
      const [requests, duration, cpu, inFlight] = await Promise.all([
        this.#read(METRIC_NAMES.requests),
        this.#read(METRIC_NAMES.duration),
        this.#read(METRIC_NAMES.cpu),
        this.#read(METRIC_NAMES.inFlight),
      ]);
      const groups = this.#options.groups();
      const samples: Record<string, DashboardSample> = {};
      for (const group of groups) {
        const mine = (values: MetricValue[]) => values.filter((v) => v.labels.group === group.name);
        const req = mine(requests);
        const snapshot: Snapshot = {
          t,
          total: req.reduce((sum, v) => sum + v.value, 0),
          failed: req
            .filter((v) => v.labels.code === '5xx' || v.labels.code === 'error')
            .reduce((s, v) => s + v.value, 0),
          buckets: mine(duration)
            .filter((v) => v.metricName?.endsWith('_bucket'))
            .map((v) => ({
              le: v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le),
              count: v.value,
            })),
        };
        const before = this.#previous.get(group.name);
        this.#previous.set(group.name, snapshot);
        const sample = toSample(snapshot, before, group, {
          cpu: mine(cpu)[0]?.value ?? null,
          inFlight: mine(inFlight)[0]?.value ?? null,
        });
        samples[group.name] = sample;
        const kept = this.#history.get(group.name) ?? [];
        kept.push(sample);
        if (kept.length > (this.#options.historySize ?? 900)) kept.shift();
        this.#history.set(group.name, kept);
      }
      // A group a reload removed is forgotten: its history was kept (up to historySize samples) and
      // sent in every new dashboard's first answer for as long as the controller ran, and a group
      // added again under its name went on from its old line and counters.
      const listed = new Set(groups.map((g) => g.name));
      for (const name of [...this.#history.keys()])
        if (!listed.has(name)) {
          this.#history.delete(name);
          this.#previous.delete(name);
        }
      this.emit('tick', samples, groups);
      return samples;
    } catch {
      // A failed read (a collector threw) skips one sample; the next interval tries again.
      return {};
    } finally {
      this.#running = false;
    }
  }

  async #read(name: string): Promise<MetricValue[]> {
    const metric = this.#options.registry.getSingleMetric(name);
    if (!metric) return [];
    return (await metric.get()).values as MetricValue[];
  }
}

/** toSample computes one sample from two consecutive snapshots of a group's series. */
export function toSample(
  now: Snapshot,
  before: Snapshot | undefined,
  group: Pick<GroupSummary, 'desired' | 'ready'>,
  gauges: { cpu: number | null; inFlight: number | null },
): DashboardSample {
  const base = {
    t: now.t,
    cpu: gauges.cpu,
    inFlight: gauges.inFlight,
    desired: group.desired,
    ready: group.ready,
  };
  const seconds = before ? (now.t - before.t) / 1000 : 0;
  if (!before || seconds <= 0) return { ...base, rps: null, errorRate: null, p50: null, p99: null };
  const requests = Math.max(0, now.total - before.total);
  const failed = Math.max(0, now.failed - before.failed);
  const delta = bucketDelta(now.buckets, before.buckets);
  const ms = (q: number) => {
    const seconds = histogramQuantile(q, delta);
    return seconds === null ? null : Math.round(seconds * 100_000) / 100;
  };
  return {
    ...base,
    rps: Math.round((requests / seconds) * 100) / 100,
    errorRate: requests > 0 ? Math.round((failed / requests) * 10_000) / 100 : 0,
    p50: ms(0.5),
    p99: ms(0.99),
  };
}
