/**
 * An AWS group's instances are EC2 machines, not local processes: the CPU window (process-cpu.ts)
 * has no pid of theirs to sample, so before this source a `cpu` metric on an AWS group read as
 * missing on every decision and the group never scaled on CPU. This source reads what AWS target
 * tracking's predefined ASGAverageCPUUtilization reads: CloudWatch `AWS/EC2` `CPUUtilization`,
 * dimension `AutoScalingGroupName`, statistic Average, one period (60 s with detailed monitoring,
 * 300 s with basic), through GetMetricData.
 *
 * CloudWatch publishes a period 1–3 minutes after it ends, so the reading lags the load by that
 * much; and the newest bucket it returns may still be filling. Only the newest *complete* datapoint
 * is read, and one too old (or none at all) is missing, never 0: no datapoint says nothing of the
 * load (detailed monitoring off, a wrong group name, a CloudWatch delay), and a 0 would scale the
 * group in while it may be busy.
 */
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { type MetricSource, MetricSourceError, readyCount, type SourceContext } from './source.js';

/** Datapoint is one CloudWatch bucket: its start (ms since the epoch) and its Average. */
export interface Datapoint {
  at: number;
  value: number;
}

/**
 * CLOUDWATCH_DELAY_MS is how late CloudWatch may publish a complete period of EC2 metrics (1–3 min,
 * the CloudWatch user guide): a datapoint that late is still the newest there will be.
 */
export const CLOUDWATCH_DELAY_MS = 180_000;

/**
 * maxDatapointAge is how long after its period ended a datapoint still counts: about two periods,
 * and never less than CloudWatch's own delay, or detailed monitoring (60 s) would read as missing
 * whenever CloudWatch publishes in its usual 2–3 minutes.
 */
export function maxDatapointAge(periodMs: number): number {
  return Math.max(2 * periodMs, CLOUDWATCH_DELAY_MS);
}

/**
 * newestCompleteDatapoint is the newest datapoint whose period has ended by `now` and ended at
 * most maxDatapointAge ago; undefined when there is none (missing). A bucket still filling is an
 * average of the seconds so far (with detailed monitoring, of fewer instances' reports), so it is
 * left out.
 */
export function newestCompleteDatapoint(
  datapoints: readonly Datapoint[],
  periodMs: number,
  now: number,
): Datapoint | undefined {
  let newest: Datapoint | undefined;
  for (const point of datapoints) {
    const end = point.at + periodMs;
    if (end > now || now - end > maxDatapointAge(periodMs) || !Number.isFinite(point.value)) continue;
    if (!newest || point.at > newest.at) newest = point;
  }
  return newest;
}

/** CloudWatchCpuSourceOptions are what reading one Auto Scaling group's CPU needs. */
export interface CloudWatchCpuSourceOptions {
  autoScalingGroup: string;
  /** The AWS provider's: the same region, endpoint and credential chain as its clients. */
  region?: string;
  endpoint?: string;
  /** CloudWatch period, ms: 60 000 with detailed monitoring, 300 000 with basic. @defaultValue 60000 */
  periodMs?: number;
  /** A ready-made client (tests). @defaultValue a CloudWatchClient with `region` and `endpoint` */
  client?: CloudWatchClient;
  /** Wall clock, ms since the epoch: CloudWatch's time, not the decision clock. @defaultValue Date.now */
  wallNow?: () => number;
}

/**
 * CloudWatchCpuSource reads an Auto Scaling group's average CPUUtilization: one value, the group's
 * average, or none when the group has no instance and CloudWatch no datapoint. The reader spreads
 * it over the instances ready at decision time (see remoteCpuReading): counted at read time, up to
 * a poll interval earlier, an instance listed since would be left out of the proposal.
 */
export class CloudWatchCpuSource implements MetricSource {
  readonly name = 'cpu';
  readonly kind = 'utilization' as const;
  /**
   * A period changes once a minute at best, and every GetMetricData is billed per metric read:
   * four reads a period see a new datapoint within 15 s of its publication, at 5 760 reads a day.
   */
  readonly pollInterval: number;
  readonly #options: CloudWatchCpuSourceOptions;
  readonly #periodMs: number;
  readonly #wallNow: () => number;
  #client: Promise<CloudWatchClient> | undefined;
  #closed = false;

  constructor(options: CloudWatchCpuSourceOptions) {
    this.#options = options;
    this.#periodMs = options.periodMs ?? 60_000;
    if (!(this.#periodMs >= 60_000 && this.#periodMs % 60_000 === 0))
      throw new RangeError(`periodMs must be a multiple of 60000, got ${this.#periodMs}`);
    this.#wallNow = options.wallNow ?? Date.now;
    this.pollInterval = this.#periodMs / 4;
  }

  async read(context: SourceContext): Promise<number[]> {
    return (await this.readMeasured(context)).values;
  }

  /**
   * readMeasured is `read` dated at the datapoint's Timestamp (its period's start, as CloudWatch
   * dates it): the same datapoint is read four times a period and 1–3 minutes after it was
   * measured, and counted once, at its own time (see GroupReadings). No datapoint (a group with no
   * instance) is dated at the read.
   */
  async readMeasured(context: SourceContext): Promise<{ values: number[]; measuredAt: number }> {
    const now = this.#wallNow();
    const { GetMetricDataCommand } = await import('@aws-sdk/client-cloudwatch');
    const client = await this.#clientOnce();
    // Whole periods back to the oldest datapoint still fresh enough, so every candidate is asked for.
    const start = Math.floor((now - maxDatapointAge(this.#periodMs) - 2 * this.#periodMs) / 60_000) * 60_000;
    const out = await client.send(
      new GetMetricDataCommand({
        StartTime: new Date(start),
        EndTime: new Date(now),
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          {
            Id: 'cpu',
            ReturnData: true,
            MetricStat: {
              Metric: {
                Namespace: 'AWS/EC2',
                MetricName: 'CPUUtilization',
                Dimensions: [{ Name: 'AutoScalingGroupName', Value: this.#options.autoScalingGroup }],
              },
              Period: this.#periodMs / 1000,
              Stat: 'Average',
            },
          },
        ],
      }),
    );
    const result = out.MetricDataResults?.find((r) => r.Id === 'cpu');
    const times = result?.Timestamps ?? [];
    const values = result?.Values ?? [];
    const datapoints = times.map((t, i) => ({ at: t.getTime(), value: values[i] ?? Number.NaN }));
    const newest = newestCompleteDatapoint(datapoints, this.#periodMs, now);
    // A group with no instance in service has no CPU datapoint: its load is none, not unknown.
    if (!newest && readyCount(context.instances) === 0) return { values: [], measuredAt: now };
    if (!newest) {
      const window = Math.round((maxDatapointAge(this.#periodMs) + this.#periodMs) / 1000);
      const latest = datapoints.reduce<number | undefined>(
        (m, p) => (m === undefined || p.at > m ? p.at : m),
        undefined,
      );
      throw new MetricSourceError(
        'SOURCE_STALE',
        `CloudWatch has no complete AWS/EC2 CPUUtilization datapoint for AutoScalingGroupName=${this.#options.autoScalingGroup} ` +
          `in the last ${window} s (${latest === undefined ? 'none at all' : `newest from ${new Date(latest).toISOString()}`}; ` +
          `is ${this.#periodMs === 60_000 ? 'detailed monitoring on' : 'the group name right'}?)`,
      );
    }
    return { values: [newest.value], measuredAt: newest.at };
  }

  #clientOnce(): Promise<CloudWatchClient> {
    this.#client ??= this.#options.client
      ? Promise.resolve(this.#options.client)
      : import('@aws-sdk/client-cloudwatch').then(
          ({ CloudWatchClient }) =>
            new CloudWatchClient({
              ...(this.#options.region && { region: this.#options.region }),
              ...(this.#options.endpoint && { endpoint: this.#options.endpoint }),
            }),
        );
    return this.#client;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A client handed in is its owner's to destroy.
    if (this.#client && !this.#options.client) (await this.#client).destroy();
  }
}
