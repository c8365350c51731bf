/**
 * MetricSource is one scaling signal read from outside the policy: the balancer, a Prometheus
 * query, a queue's depth. Sources are async and may fail; the controller decides synchronously.
 * PolledMetric bridges the two: it polls a source in the background and hands the policy the last
 * good value, or — when the last poll failed or the value went stale — a metric with `error` set,
 * which the policy treats as HPA treats a missing metric (never a silent scale-down).
 */
import { monotonicNow } from '../clock.js';
import type { MetricKind, ObservedMetric } from '../policy/index.js';
import type { Instance } from '../providers/index.js';

/** SourceContext is what a source may look at when read. */
export interface SourceContext {
  group: string;
  /** The group's instances now (per-instance sources read the ready ones). */
  instances: readonly Instance[];
  /** When read, on the decision clock (clock.ts: epoch ms as of start, then monotonic): a rate's time base. */
  now: number;
}

/** MetricSource is one backend of scaling signals. */
export interface MetricSource {
  /** The metric's name in decisions and the journal (`rabbitmq`, `prometheus`, …). */
  readonly name: string;
  /** `total`: one value for the group (queue depth); `average`: one per ready instance. */
  readonly kind: MetricKind;
  /**
   * How often the source is worth reading, ms, when its values change slower than the controller
   * reads (CloudWatch: once a period, each read billed). @defaultValue the group's poll interval
   */
  readonly pollInterval?: number;
  /**
   * How long one read may take before the source gives up by itself, ms, where that is configured
   * (a Prometheus query's `timeout`): the polled read's own timeout is kept above it, so the
   * source's more precise error wins. @defaultValue none: DEFAULT_READ_TIMEOUT_MS applies
   */
  readonly readTimeout?: number;
  /** read resolves with the current values, or rejects with why it could not. */
  read(context: SourceContext): Promise<number[]>;
  /**
   * readMeasured is `read` with when the values were measured (wall clock, ms since the epoch), for
   * a source whose value is one dated measurement read many times (CloudWatch: one datapoint per
   * period, polled four times a period). A polled metric then tells a new measurement from the
   * same one read again (see PolledMetric.latestMeasurement). @defaultValue none: `read`
   */
  readMeasured?(context: SourceContext): Promise<{ values: number[]; measuredAt: number }>;
  /** close releases connections. Safe to call twice. */
  close(): Promise<void>;
}

/** MetricSourceError is a source failure, with a stable code and the original cause. */
export class MetricSourceError extends Error {
  override readonly name = 'MetricSourceError';
  readonly code: 'SOURCE_FAILED' | 'SOURCE_STALE' | 'SOURCE_NOT_READ' | 'SOURCE_BAD_RESPONSE';
  constructor(code: MetricSourceError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** DEFAULT_READ_TIMEOUT_MS is how long a polled read may take before it counts as failed (`timeout`). */
export const DEFAULT_READ_TIMEOUT_MS = 6000;

/** PolledMetricOptions wires one polled metric. */
export interface PolledMetricOptions {
  source: MetricSource;
  /** Names this metric apart from the group's others (`redis#2`). @defaultValue source.name */
  label?: string;
  /** Per-instance target (or per-instance share of a total). */
  target: number;
  group: string;
  instances: () => readonly Instance[];
  /** Poll period, ms. @defaultValue 1000 */
  interval?: number;
  /** A value older than this is stale (counts as missing), ms. @defaultValue max(3 × interval, 10 s) */
  maxAge?: number;
  /**
   * A read that has not settled after this long counts as failed (reported, missing) while it goes
   * on; no second read starts until it settles, so a server that stops answering piles up nothing.
   * Above the sources' own 5 s timeouts, so their more precise errors win. ms. @defaultValue 6000
   */
  timeout?: number;
  /** Told when the source starts failing (once per failure streak) and when it recovers (err undefined). */
  onError?: (err: Error | undefined, source: MetricSource) => void;
  /**
   * Dates each value; `observe(now)` compares the controller's `now` with it, so both must be the
   * same clock. @defaultValue monotonicNow, the controller's
   */
  now?: () => number;
  /** The wall clock, for `latestMeasurement`: a measurement's age. @defaultValue Date.now */
  wallClock?: () => number;
}

/** PolledMetric polls one source and serves its last value to the synchronous controller. */
export class PolledMetric {
  readonly source: MetricSource;
  /** This metric's name among the group's metrics (alert keys): `redis`, `redis#2`, … */
  readonly label: string;
  readonly target: number;
  readonly #options: PolledMetricOptions;
  readonly #interval: number;
  readonly #maxAge: number;
  readonly #timeout: number;
  readonly #now: () => number;
  /** `measuredAt`: when the source measured the values (wall clock), when it says (readMeasured). */
  #last: { values: number[]; at: number; measuredAt?: number } | undefined;
  #error: Error | undefined = new MetricSourceError('SOURCE_NOT_READ', 'not read yet');
  #failing = false;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  /** The source's read in progress and when it started (real time, for the timeout). */
  #reading: { done: Promise<void>; since: number } | undefined;
  #closed = false;

  constructor(options: PolledMetricOptions) {
    this.source = options.source;
    this.label = options.label ?? options.source.name;
    this.target = options.target;
    this.#options = options;
    this.#interval = options.interval ?? 1000;
    this.#maxAge = options.maxAge ?? Math.max(3 * this.#interval, 10_000);
    this.#now = options.now ?? monotonicNow;
    this.#timeout = options.timeout ?? DEFAULT_READ_TIMEOUT_MS;
    if (!(this.#timeout > 0)) throw new RangeError(`timeout must be positive, got ${this.#timeout}`);
  }

  /** start polls now and then every interval. */
  start(): void {
    if (this.#timer || this.#closed) return;
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#interval);
    this.#timer.unref();
  }

  /** poll reads the source once (a poll still running is joined, not doubled). */
  poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  /**
   * #pollOnce waits for the source's read, or for its timeout: a read still running then is failed
   * (reported once per streak, as any failure) and left to settle; the polls meanwhile start no
   * other read. Before, a server that stopped answering (SIGSTOP, a partition) hung the read: the
   * value went stale after maxAge, but nothing was logged or alerted, and close() waited for it.
   */
  async #pollOnce(): Promise<void> {
    const started = performance.now();
    if (!this.#reading) {
      const done = this.#readOnce(this.#now()).finally(() => {
        if (this.#reading?.done === done) this.#reading = undefined;
      });
      this.#reading = { done, since: started };
    }
    const { done, since } = this.#reading;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      done.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, since + this.#timeout - started));
      }),
    ]);
    clearTimeout(timer);
    if (timedOut && this.#reading?.done === done) {
      this.#fail(new MetricSourceError('SOURCE_FAILED', `no answer within ${this.#timeout} ms`));
    }
  }

  async #readOnce(now: number): Promise<void> {
    try {
      const context = { group: this.#options.group, instances: this.#options.instances(), now };
      const { values, measuredAt } = this.source.readMeasured
        ? await this.source.readMeasured(context)
        : { values: await this.source.read(context), measuredAt: undefined };
      if (values.some((v) => !Number.isFinite(v))) {
        throw new MetricSourceError('SOURCE_BAD_RESPONSE', `non-numeric value ${values.join(',')}`);
      }
      this.#last = { values, at: now, ...(measuredAt !== undefined && { measuredAt }) };
      this.#error = undefined;
      if (this.#failing && !this.#closed) this.#options.onError?.(undefined, this.source);
      this.#failing = false;
    } catch (err) {
      this.#fail(
        err instanceof MetricSourceError
          ? err
          : new MetricSourceError('SOURCE_FAILED', err instanceof Error ? err.message : String(err), {
              cause: err,
            }),
      );
    }
  }

  #fail(error: MetricSourceError): void {
    this.#error = error;
    // No value yet (a rate's first read, a latency with no request since the last one) is
    // missing, as any failure is to the policy, but nothing failed: no warning, no alert.
    if (error.code === 'SOURCE_NOT_READ') return;
    if (!this.#failing && !this.#closed) this.#options.onError?.(error, this.source);
    this.#failing = true;
  }

  /** observe is the metric as the policy sees it at `now`: values, or `error` when missing. */
  observe(now: number): ObservedMetric {
    const base = { name: this.source.name, target: this.target, kind: this.source.kind };
    if (this.#error) return { ...base, values: [], error: this.#error.message };
    if (!this.#last || now - this.#last.at > this.#maxAge) {
      return { ...base, values: [], error: `stale: no value for ${this.#maxAge} ms` };
    }
    return { ...base, values: this.#last.values };
  }

  /**
   * latestMeasurement is when the source measured the value `observe(now)` gives (wall clock), and
   * that clock's time now; undefined when the metric is missing at `now` or its source does not
   * date its values. A CloudWatch datapoint is read four times a period: its time tells a new one
   * from the same one read again.
   */
  latestMeasurement(now: number): { measuredAt: number; wallNow: number } | undefined {
    const measuredAt = this.#last?.measuredAt;
    if (measuredAt === undefined || this.observe(now).error !== undefined) return undefined;
    return { measuredAt, wallNow: (this.#options.wallClock ?? Date.now)() };
  }

  /** close stops polling and closes the source. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    // The source first: closing it ends a read that hangs on a server that stopped answering,
    // which close() would otherwise wait for (Redis: forever).
    await this.source.close();
    const reading = this.#reading?.done;
    if (!reading) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([reading, new Promise((resolve) => (timer = setTimeout(resolve, this.#timeout)))]);
    clearTimeout(timer);
  }
}

/** readyCount is the number of ready instances, for per-instance sources. */
export function readyCount(instances: readonly Instance[]): number {
  return instances.filter((i) => i.state === 'ready').length;
}
