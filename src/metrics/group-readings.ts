/**
 * GroupReadings is everything that reads one group's `scaling.metrics`: the CPU and memory windows
 * of its local instances and a polled source per other metric. One object per group, so a config
 * reload that changes the metrics swaps it whole (`replacing`) and closes the old one.
 *
 * Besides the readings a decision takes (CPU averaged over `metric_window`, as the HPA reads a
 * metrics window), every sampling tick leaves one load sample: the group's load over that tick
 * alone. The decision gets them all (`takeSamples`), so the panic window and the forecast's minute
 * buckets see the load second by second, as the simulator feeds them, instead of one 30-s average
 * stamped at decision time that lags the load by half a window.
 */
import { monotonicNow } from '../clock.js';
import type { GroupConfig, MetricConfig } from '../config/index.js';
import { type LoadSample, type ObservedMetric, samplesOf } from '../policy/index.js';
import type { Instance, PodUsage } from '../providers/index.js';
import { isMissingMetric } from './missing-metric.js';
import { type CpuReadiness, HPA_CPU_READINESS, NOT_READ_YET, PodUsagePoller } from './pod-usage.js';
import { ProcessCpuWindow, type SampleCpu } from './process-cpu.js';
import { ProcessMemoryWindow, type SampleMemory } from './process-memory.js';
import { DEFAULT_READ_TIMEOUT_MS, type MetricSource, PolledMetric } from './source.js';

/** GroupReadingsOptions are what building a group's readers needs from the running system. */
export interface GroupReadingsOptions {
  group: GroupConfig;
  instances: () => readonly Instance[];
  sampleCpu: SampleCpu;
  sampleMemory: SampleMemory;
  /** How old an instance's latest memory sample may be before it counts as missing, ms. */
  memoryMaxAge: number;
  /**
   * The provider's reading of its instances' CPU and memory (Kubernetes: PodMetrics), for a group
   * whose instances are no local processes: `cpu` and `memory` are then read from it instead.
   */
  readPodUsage?: (() => Promise<PodUsage[]>) | undefined;
  createSource: (metric: Exclude<MetricConfig, { type: 'cpu' | 'memory' }>) => MetricSource;
  /**
   * The source of the group's `cpu` when its instances are not local processes (AWS: CloudWatch);
   * undefined when the CPU window samples them. @defaultValue none (the CPU window)
   */
  createCpuSource?: () => MetricSource | undefined;
  /** Poll period of the polled sources, ms. */
  interval: number;
  /**
   * A polled source started failing (err) or recovered (undefined). `label` tells it apart from the
   * group's other metrics (see {@link metricLabels}): alert keys and logs use it.
   */
  onSourceError: (err: Error | undefined, source: Pick<MetricSource, 'name'>, label: string) => void;
}

/** A reader reads one metric; `windowMs` narrows a CPU reading to the last tick. */
type Reader = (instances: readonly Instance[], now: number, windowMs?: number) => ObservedMetric;

/**
 * MAX_PENDING_SAMPLES bounds the samples kept between two decisions (one per tick): a group whose
 * decisions stop (an engine scales it, a standby) must not grow them forever.
 */
const MAX_PENDING_SAMPLES = 900;

/**
 * metricLabels names each of a group's metrics apart: its type (`redis`), and from the second of a
 * type on `<type>#<n>` (`redis#2`), n counted in config order. The alert of a failing source is
 * keyed by it: keyed by the type alone, two metrics of one type (two queues, two PromQL queries)
 * shared one alert, so one of them recovering resolved it while the other still failed, and the
 * still-failing one was never alerted again (a source reports once per failure streak).
 */
export function metricLabels(types: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return types.map((type) => {
    const n = (seen.get(type) ?? 0) + 1;
    seen.set(type, n);
    return n === 1 ? type : `${type}#${n}`;
  });
}

/**
 * remoteCpuReading turns a polled group average (CloudWatch's) into the reading the CPU window gives
 * of local instances: the average once per instance ready now (the policy proposes average/target
 * times the count of values), 100 as a ceiling (a reading there only bounds demand), and starting
 * instances as unready, so a scale-out counts those already on their way.
 */
export function remoteCpuReading(polled: ObservedMetric, instances: readonly Instance[]): ObservedMetric {
  const unready = instances.filter((i) => i.state === 'starting').length;
  const ready = instances.filter((i) => i.state === 'ready').length;
  const [average] = polled.values;
  // No value (failed, or the group had no instance when read): instances ready now lack a reading,
  // missing and not a load of zero.
  if (average === undefined) return { ...polled, missing: ready, ceiling: 100, unready };
  return { ...polled, values: Array.from({ length: ready }, () => average), ceiling: 100, unready };
}

/**
 * cpuReadinessOf is the HPA's CPU start-up periods of a Kubernetes group (its
 * `cpu_initialization_period` and `initial_readiness_delay`), the kube-controller-manager's
 * defaults for any other.
 */
export function cpuReadinessOf(group: GroupConfig): CpuReadiness {
  const provider = group.provider;
  if (provider.provider !== 'kubernetes') return HPA_CPU_READINESS;
  return {
    cpuInitializationPeriod: provider.cpuInitializationPeriod ?? HPA_CPU_READINESS.cpuInitializationPeriod,
    initialReadinessDelay: provider.initialReadinessDelay ?? HPA_CPU_READINESS.initialReadinessDelay,
  };
}

/** GroupReadings reads a group's metrics; `sample` is called on the CPU/memory sampling tick. */
export class GroupReadings {
  readonly #cpu: ProcessCpuWindow;
  readonly #cpuWindowMs: number;
  readonly #memory: ProcessMemoryWindow | undefined;
  readonly #sources: PolledMetric[] = [];
  readonly #readers: Reader[];
  readonly #instances: () => readonly Instance[];
  /** Reads the group's pod usages when its provider measures them (Kubernetes). */
  readonly #podUsage: PodUsagePoller | undefined;
  /**
   * Per cpu/memory metric read from pod usages: checked each tick, so a failure (no metrics-server,
   * a pod without requests) is reported once per streak, as a polled source's is.
   */
  readonly #podUsageChecks: ((now: number) => void)[] = [];
  /** One load sample per tick since the last `takeSamples`, oldest first. */
  #pending: LoadSample[] = [];
  #lastTickAt: number | undefined;
  /**
   * When every metric is one dated measurement read many times (pod usages: PodMetrics; an AWS
   * group's cpu alone: CloudWatch), the newest measurement's time (wall clock) and the wall clock's
   * now: a load sample is then left per new measurement, not per tick (see `samplesComplete`).
   * undefined: one sample per tick.
   */
  readonly #latestMeasurement:
    | ((now: number) => { measuredAt: number; wallNow: number } | undefined)
    | undefined;
  /** The time (wall clock) of the newest measurement already left as a load sample. */
  #measurementTaken = Number.NEGATIVE_INFINITY;
  /** The date of the last load sample left: samples stay in order however the clocks step. */
  #lastSampleAt = Number.NEGATIVE_INFINITY;

  /**
   * `previous`: the readings this one replaces after a reload; its CPU window (and its samples) is
   * kept when the window length did not change, so CPU is not missing for the seconds a new window
   * needs to fill.
   */
  constructor(options: GroupReadingsOptions, previous?: GroupReadings) {
    const { group } = options;
    this.#instances = options.instances;
    this.#cpuWindowMs = group.scaling?.metricWindow ?? 30_000;
    this.#cpu =
      previous && previous.#cpuWindowMs === this.#cpuWindowMs
        ? previous.#cpu
        : new ProcessCpuWindow({ sampleCpu: options.sampleCpu, windowMs: this.#cpuWindowMs });
    const metrics = group.scaling?.metrics ?? [];
    // Only groups scaled on memory pay for reading it (`?.` cannot reach a private field).
    const keptMemory = previous === undefined ? undefined : previous.#memory;
    this.#memory = metrics.some((m) => m.type === 'memory')
      ? (keptMemory ??
        new ProcessMemoryWindow({ sampleMemory: options.sampleMemory, maxAgeMs: options.memoryMaxAge }))
      : undefined;
    // The ticks since the last decision are the group's load whatever the reload changed.
    if (previous) {
      this.#pending = previous.#pending;
      this.#lastTickAt = previous.#lastTickAt;
      this.#measurementTaken = previous.#measurementTaken;
      this.#lastSampleAt = previous.#lastSampleAt;
    }
    const labels = metricLabels(metrics.map((m) => m.type));
    const onPodUsage = metrics.some((m) => m.type === 'cpu' || m.type === 'memory');
    this.#podUsage =
      options.readPodUsage && onPodUsage
        ? new PodUsagePoller({
            readPodUsage: options.readPodUsage,
            interval: options.interval,
            maxAgeMs: Math.max(3 * options.interval, options.memoryMaxAge),
            readiness: cpuReadinessOf(group),
          })
        : undefined;
    const podUsage = this.#podUsage;
    let cloudWatchCpu: PolledMetric | undefined;
    // Each metric is read by CPU/memory sampling or by a polled source; a failing source is missing, never 0.
    this.#readers = metrics.map((metric, index): Reader => {
      const label = labels[index]!;
      const podUsage = this.#podUsage;
      if ((metric.type === 'cpu' || metric.type === 'memory') && podUsage) {
        const read: Reader = (instances, now) => podUsage.read(instances, metric, now);
        let failing = false;
        this.#podUsageChecks.push((now) => {
          const { error } = read(options.instances(), now);
          if (error === NOT_READ_YET || (error === undefined) !== failing) return;
          failing = error !== undefined;
          options.onSourceError(
            error === undefined ? undefined : new Error(error),
            { name: metric.type },
            label,
          );
        });
        return read;
      }
      if (metric.type === 'cpu') {
        const remote = options.createCpuSource?.();
        if (remote) {
          const polled = this.#poll(options, remote, label, metric.target);
          cloudWatchCpu = polled;
          return (instances, now) => remoteCpuReading(polled.observe(now), instances);
        }
        return (instances, now, windowMs) => this.#cpu.read(instances, metric.target, now, windowMs);
      }
      if (metric.type === 'memory') return (instances, now) => this.#memory!.read(instances, metric, now);
      const polled = this.#poll(options, options.createSource(metric), label, metric.target);
      return (_instances, now) => polled.observe(now);
    });
    if (podUsage && metrics.every((m) => m.type === 'cpu' || m.type === 'memory')) {
      this.#latestMeasurement = () => {
        const latest = podUsage.latestSample();
        return latest && { measuredAt: latest.sampledAt, wallNow: latest.wallNow };
      };
    } else if (cloudWatchCpu && metrics.length === 1) {
      const polled = cloudWatchCpu;
      this.#latestMeasurement = (now) => polled.latestMeasurement(now);
    }
  }

  /** #poll starts polling `source` in the background, at its own pace when it has one. */
  #poll(options: GroupReadingsOptions, source: MetricSource, label: string, target: number): PolledMetric {
    const polled = new PolledMetric({
      source,
      label,
      target,
      group: options.group.name,
      instances: options.instances,
      interval: source.pollInterval ?? options.interval,
      // A source that gives up by itself (a Prometheus query's `timeout`) is waited for a second
      // longer, so its own error is the one reported, not "no answer within 6000 ms".
      ...(source.readTimeout !== undefined && {
        timeout: Math.max(DEFAULT_READ_TIMEOUT_MS, source.readTimeout + 1000),
      }),
      onError: (err, failed) => options.onSourceError(err, failed, label),
    });
    polled.start();
    this.#sources.push(polled);
    return polled;
  }

  /** sources are the polled sources, for what their failures fired. */
  get sources(): readonly PolledMetric[] {
    return this.#sources;
  }

  /**
   * sample takes one CPU (and, when read, memory) measurement of the group's ready instances, and
   * keeps the group's load over this tick as a sample for the next decision; none when a metric is
   * missing on this tick (see missing-metric.ts). `now` dates the samples the decisions' windows
   * take (read with the controller's `now`): the decision clock, whose steps are the monotonic
   * clock's. Dated on the wall clock, a step back made a sample's span negative, and CPU missing
   * until it left the window (31 s); a step forward aged every sample out of it at once.
   */
  sample(now: number = monotonicNow()): void {
    const instances = this.#instances();
    this.#cpu.sample(instances, now);
    this.#memory?.sample(instances, now);
    void this.#podUsage?.poll(now);
    for (const check of this.#podUsageChecks) check(now);
    const since = this.#lastTickAt;
    this.#lastTickAt = now;
    if (this.#latestMeasurement) {
      this.#sampleMeasurement(instances, now, this.#latestMeasurement(now));
      return;
    }
    if (since === undefined || this.#readers.length === 0) return;
    // The largest load over the metrics, as a decision takes it; CPU over this tick alone. The
    // sample is dated at the tick's start, as the simulator dates second t at t (it covers [t, t+1)).
    const tick = this.#readers.map((read) => read(instances, now, now - since));
    // A tick with a metric missing leaves no sample: the largest over the rest would understate the
    // load (Prometheus down, CPU low: a low sample) and the forecast would learn it as demand. A gap
    // is what it is: the panic window averages the ticks it has, a forecast bucket the samples in it.
    if (tick.some(isMissingMetric)) return;
    const [load] = samplesOf({ current: 0, ready: 0, metrics: tick }, since);
    if (!load) return;
    this.#pending.push(load);
    if (this.#pending.length > MAX_PENDING_SAMPLES) this.#pending.shift();
  }

  /**
   * sampleMeasurement leaves one load sample per new measurement, dated when it was taken (moved
   * onto the decision clock by its age): a PodMetrics sample at its `timestamp`, as the HPA reads a
   * pod metric; a CloudWatch datapoint at its Timestamp, 1–3 minutes back. Before, each 1-s tick
   * left the same measurement again, dated at the tick: fifteen copies of one 15-s PodMetrics
   * sample, sixty of one 60-s datapoint, each counted as load seen that second, so a panic window
   * of 6 s averaged a load minutes old as if it were now, and a forecast bucket weighed a sample by
   * how long it stayed unchanged.
   */
  #sampleMeasurement(
    instances: readonly Instance[],
    now: number,
    latest: { measuredAt: number; wallNow: number } | undefined,
  ): void {
    if (latest === undefined || latest.measuredAt <= this.#measurementTaken) return;
    const tick = this.#readers.map((read) => read(instances, now));
    if (tick.some(isMissingMetric)) return;
    const at = Math.min(
      now,
      Math.max(this.#lastSampleAt, now - Math.max(0, latest.wallNow - latest.measuredAt)),
    );
    const [load] = samplesOf({ current: 0, ready: 0, metrics: tick }, at);
    this.#measurementTaken = latest.measuredAt;
    if (!load) return;
    this.#lastSampleAt = at;
    this.#pending.push(load);
    if (this.#pending.length > MAX_PENDING_SAMPLES) this.#pending.shift();
  }

  /**
   * samplesComplete is true when the samples are every measurement there was (a group read from
   * PodMetrics alone, or from CloudWatch's CPU alone): no sample since the last decision then means nothing new was measured, and
   * the decision must not derive one from its readings, which would count the last sample again as
   * load seen now.
   */
  get samplesComplete(): boolean {
    return this.#latestMeasurement !== undefined;
  }

  /** takeSamples returns the load samples of the ticks since the previous call, oldest first. */
  takeSamples(): LoadSample[] {
    const taken = this.#pending;
    this.#pending = [];
    return taken;
  }

  /** read returns one reading per configured metric, in config order. */
  read(instances: readonly Instance[], now: number): ObservedMetric[] {
    return this.#readers.map((read) => read(instances, now));
  }

  /** close stops the polled sources (their connections, timers). */
  async close(): Promise<void> {
    await Promise.all(this.#sources.map((s) => s.close()));
  }
}
