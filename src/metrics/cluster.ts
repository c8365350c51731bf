import {
  AggregatorRegistry,
  type Metric,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';

/** MetricsSnapshot is one registry's series as `getMetricsAsJSON()` returns them (IPC-safe). */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** RemoteMetrics reads the snapshots of other processes (data-path workers), one per process. */
export type RemoteMetrics = () => Promise<readonly MetricsSnapshot[]>;

type Wrapper = { get(): MetricObjectWithValues<MetricValue<string>> | undefined };

/**
 * mergeSnapshots adds other processes' series into this one's with each metric's own prom-client
 * aggregator (counters and histograms sum; a gauge says `sum`, `max`, …). Series only this process
 * has are kept as they are — aggregating them alone would drop the `omit` ones — and series only
 * the others have are added.
 */
export function mergeSnapshots(own: MetricsSnapshot, remotes: readonly MetricsSnapshot[]): MetricsSnapshot {
  const remoteNames = new Set(remotes.flatMap((snapshot) => snapshot.map((m) => m.name)));
  if (remoteNames.size === 0) return own;
  const aggregated = AggregatorRegistry.aggregate([own.filter((m) => remoteNames.has(m.name)), ...remotes]);
  const read = (name: string) => (aggregated.getSingleMetric(name) as unknown as Wrapper | undefined)?.get();
  const merged: MetricsSnapshot = [];
  for (const metric of own) {
    const m = remoteNames.has(metric.name) ? read(metric.name) : metric;
    if (m !== undefined) merged.push(m);
  }
  const ownNames = new Set(own.map((m) => m.name));
  for (const name of remoteNames) {
    if (ownNames.has(name)) continue;
    const m = read(name);
    if (m !== undefined) merged.push(m);
  }
  return merged;
}

/**
 * addTotals returns `into` with the counters and histograms of `from` added, series by series (by
 * name and labels): the totals of a process that is gone, kept so that the sums over processes
 * never go down when one is replaced. Gauges and summaries are dropped: they describe a live
 * process, and a summary's quantiles cannot be added.
 */
export function addTotals(into: MetricsSnapshot, from: MetricsSnapshot): MetricsSnapshot {
  const merged = new Map(into.map((m) => [m.name, { ...m, values: m.values.map((v) => ({ ...v })) }]));
  for (const metric of from) {
    // prom-client's typings say an enum; the objects carry its names ('counter', 'histogram', …).
    const type = metric.type as unknown as string;
    if (type !== 'counter' && type !== 'histogram') continue;
    let total = merged.get(metric.name);
    if (total === undefined) {
      total = { ...metric, values: [] };
      merged.set(metric.name, total);
    }
    const index = new Map(total.values.map((v) => [seriesKey(v), v]));
    for (const value of metric.values) {
      const mine = index.get(seriesKey(value));
      if (mine === undefined) {
        const copy = { ...value };
        total.values.push(copy);
        index.set(seriesKey(copy), copy);
      } else mine.value += value.value;
    }
  }
  return [...merged.values()];
}

function seriesKey(value: MetricValue<string> & { metricName?: string }): string {
  const labels = Object.entries(value.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${value.metricName ?? ''}${JSON.stringify(labels)}`;
}

/**
 * ScaleplaneRegistry is a prom-client Registry whose readings include other processes' series: the
 * data-path workers of `balancer.workers` serve the requests, this process answers `/metrics`.
 * Every read (`metrics()`, `getMetricsAsJSON()`, and `get()` of a metric from `getSingleMetric`)
 * asks the remotes at that moment, so a scrape sees every request served until then. Without a
 * remote it is a plain Registry.
 */
export class ScaleplaneRegistry extends Registry {
  readonly #remotes = new Set<RemoteMetrics>();

  /** addRemote adds a source of other processes' series; the returned function removes it. */
  addRemote(source: RemoteMetrics): () => void {
    this.#remotes.add(source);
    return () => this.#remotes.delete(source);
  }

  override async getMetricsAsJSON(): Promise<MetricsSnapshot> {
    const own = (await super.getMetricsAsJSON()) as MetricsSnapshot;
    if (this.#remotes.size === 0) return own;
    return mergeSnapshots(own, await this.#readRemotes());
  }

  override async metrics(): Promise<string> {
    if (this.#remotes.size === 0) return super.metrics();
    const rendering = new Registry();
    rendering.setContentType(this.contentType);
    for (const metric of await this.getMetricsAsJSON()) {
      rendering.registerMetric(Object.assign({ get: () => metric }, metric) as unknown as Metric);
    }
    return rendering.metrics();
  }

  override getSingleMetric(name: string): Metric | undefined {
    const metric = super.getSingleMetric(name);
    if (metric === undefined || this.#remotes.size === 0) return metric;
    // Everything but reading goes to the metric itself (a caller may still inc() it).
    const get = async () => {
      const own = (await metric.get()) as MetricObjectWithValues<MetricValue<string>>;
      const remotes = (await this.#readRemotes()).map((s) => s.filter((m) => m.name === name));
      return mergeSnapshots([own], remotes)[0] ?? own;
    };
    return new Proxy(metric, {
      get: (target, prop) => (prop === 'get' ? get : Reflect.get(target, prop, target)),
    });
  }

  async #readRemotes(): Promise<MetricsSnapshot[]> {
    const all = await Promise.all([...this.#remotes].map((read) => read()));
    return all.flat();
  }
}
