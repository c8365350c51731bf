/**
 * Metric children for the balancer's data path, which counts every request. prom-client's own
 * children (`counter.labels(…)`) still validate their labels and build the label hash string on
 * every call, and a histogram's observe also turns the bucket bound into a property key: about
 * 3 µs a proxied request for a gauge inc and dec, a counter inc and a histogram observe (profiled
 * at 2.8 % of the balancer's busy time, 0.6–1 µs each measured alone). These add up in plain numbers
 * instead and hand the sums to prom-client when the metric is read: every read goes through the
 * metric's `get()`, which calls its `collect` first (a scrape, a worker's snapshot, the latency
 * source), so what is read is the same as if each call had gone to prom-client at once.
 */
import type { Counter, Gauge, Histogram } from 'prom-client';

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;
type Labels = Record<string, string>;

interface Pending {
  flush(): void;
}

// Per metric, its batched children by label set: one per set, so a group removed and added again
// takes up its old child, and the flushes stay as many as prom-client's own series.
const children = new WeakMap<AnyMetric, Map<string, Pending>>();

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** childFor returns the metric's batched child for `labels`, making it (and the flush hook) once. */
function childFor<P extends Pending>(metric: AnyMetric, labels: Labels, make: () => P): P {
  let byLabels = children.get(metric);
  if (byLabels === undefined) {
    byLabels = new Map();
    children.set(metric, byLabels);
    hookCollect(metric, byLabels);
  }
  const key = labelKey(labels);
  let child = byLabels.get(key);
  if (child === undefined) {
    child = make();
    byLabels.set(key, child);
  }
  return child as P;
}

// prom-client's get() runs `this.collect` (its documented `collect` option) before it reads the
// values; the metric's own collect, if any, still runs after the sums are in.
function hookCollect(metric: AnyMetric, byLabels: Map<string, Pending>): void {
  const target = metric as unknown as { collect?: () => unknown };
  const own = target.collect;
  target.collect = function (this: unknown) {
    for (const child of byLabels.values()) child.flush();
    return own?.call(this);
  };
}

/** BatchedCounter is a counter child whose increments reach prom-client when the counter is read. */
export class BatchedCounter {
  #pending = 0;
  constructor(
    readonly counter: Counter<string>,
    readonly labels: Labels,
  ) {}

  /** inc counts one. */
  inc(): void {
    this.#pending++;
  }

  /** flush hands the count so far to prom-client. */
  flush(): void {
    if (this.#pending === 0) return;
    this.counter.inc(this.labels, this.#pending);
    this.#pending = 0;
  }
}

/**
 * BatchedGauge is a gauge child moved by inc/dec or set, whose value reaches prom-client when it
 * is read.
 */
export class BatchedGauge {
  #delta = 0;
  /** The last value set since the last flush (the moves in `#delta` are on top of it). */
  #set: number | undefined;
  // Moved since the last flush: the series then exists even when the moves cancel out (an inc and
  // its dec between two reads), as prom-client's own child makes it at the first inc.
  #moved = false;
  constructor(
    readonly gauge: Gauge<string>,
    readonly labels: Labels,
  ) {}

  inc(): void {
    this.#delta++;
    this.#moved = true;
  }

  dec(): void {
    this.#delta--;
    this.#moved = true;
  }

  /** set makes `value` the gauge's value; only the last one before a read is handed on. */
  set(value: number): void {
    this.#set = value;
    this.#delta = 0;
    this.#moved = true;
  }

  /** flush hands the value set, or the net move, so far to prom-client. */
  flush(): void {
    if (!this.#moved) return;
    if (this.#set === undefined) this.gauge.inc(this.labels, this.#delta);
    else this.gauge.set(this.labels, this.#set + this.#delta);
    this.#delta = 0;
    this.#set = undefined;
    this.#moved = false;
  }
}

// The parts of prom-client's Histogram its get() reads: per label set, a count per bucket (not
// cumulative; a value above the last bound is in `count` only), the sum and the count.
interface HistogramEntry {
  labels: Labels;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}
interface HistogramInternals {
  upperBounds: number[];
  hashMap: Record<string, HistogramEntry>;
}

function internalsOf(histogram: Histogram<string>): HistogramInternals | undefined {
  const h = histogram as unknown as Partial<HistogramInternals>;
  return Array.isArray(h.upperBounds) && typeof h.hashMap === 'object' && h.hashMap !== null
    ? (h as HistogramInternals)
    : undefined;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * BatchedHistogram is a histogram child counting observations into its buckets here; the counts
 * reach prom-client's series when the histogram is read. prom-client has no call to add bucket
 * counts, so they are added to the series it keeps (`hashMap`, whose shape 15.x has had
 * throughout); a prom-client without that shape gets each observation at once, as before.
 */
export class BatchedHistogram {
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;
  readonly #direct: ((value: number) => void) | undefined;

  constructor(
    readonly histogram: Histogram<string>,
    readonly labels: Labels,
  ) {
    const internals = internalsOf(histogram);
    this.#bounds = internals?.upperBounds ?? [];
    this.#counts = new Float64Array(this.#bounds.length);
    if (internals === undefined) {
      const child = histogram.labels(labels);
      this.#direct = (value) => child.observe(value);
    }
  }

  /** observe counts one value, in the histogram's unit. */
  observe(value: number): void {
    if (this.#direct !== undefined) {
      this.#direct(value);
      return;
    }
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** flush adds the observations so far to prom-client's series for these labels. */
  flush(): void {
    if (this.#count === 0) return;
    const internals = internalsOf(this.histogram)!;
    let entry = Object.values(internals.hashMap).find((e) => sameLabels(e.labels, this.labels));
    if (entry === undefined) {
      this.histogram.zero(this.labels);
      entry = Object.values(internals.hashMap).find((e) => sameLabels(e.labels, this.labels))!;
    }
    const bounds = internals.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      const n = this.#counts[i]!;
      if (n === 0) continue;
      entry.bucketValues[bounds[i]!] = (entry.bucketValues[bounds[i]!] ?? 0) + n;
      this.#counts[i] = 0;
    }
    entry.sum += this.#sum;
    entry.count += this.#count;
    this.#sum = 0;
    this.#count = 0;
  }
}

/** batchedCounter is the counter's batched child for `labels` (the same one for the same labels). */
export function batchedCounter<L extends string>(
  counter: Counter<L>,
  labels: Record<L, string>,
): BatchedCounter {
  return childFor(
    counter as Counter<string>,
    labels,
    () => new BatchedCounter(counter as Counter<string>, labels),
  );
}

/** batchedGauge is the gauge's batched child for `labels` (the same one for the same labels). */
export function batchedGauge<L extends string>(gauge: Gauge<L>, labels: Record<L, string>): BatchedGauge {
  return childFor(gauge as Gauge<string>, labels, () => new BatchedGauge(gauge as Gauge<string>, labels));
}

/** batchedHistogram is the histogram's batched child for `labels` (the same one for the same labels). */
export function batchedHistogram<L extends string>(
  histogram: Histogram<L>,
  labels: Record<L, string>,
): BatchedHistogram {
  return childFor(
    histogram as Histogram<string>,
    labels,
    () => new BatchedHistogram(histogram as Histogram<string>, labels),
  );
}
