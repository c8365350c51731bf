/**
 * The replay engine: one second at a time, a queueing-free capacity model around the *same*
 * `decide` the live controller calls, with the clock injected (second index × 1000 ms).
 *
 * - Each ready instance serves `capacity` req/s at 100 % CPU; the policy sees the CPU of ready
 *   instances, min(100, 100 × demand / (ready × capacity)), sampled each second, and/or the
 *   group's request rate (a total, as the balancer's `rps` metric), as its metrics ask. A `cpu`
 *   metric with a `window` is read at decisions as live reads `metric_window`: each ready
 *   instance's CPU averaged over the window's seconds it was ready; the per-second load samples
 *   (panic, forecast) stay per second, as live's sampling ticks.
 * - A scale-out is ready `startup` s later (provisioned, not ready, meanwhile); scale-in is
 *   immediate, starting instances first.
 * - A second is overloaded when demand > 0.9 × capacity × ready; violation % = requests in
 *   overloaded seconds / all requests; cost = provisioned instance-hours.
 */
import {
  decide,
  initialScalingState,
  type LoadSample,
  type ObservedMetric,
  type ScalingDecision,
  type ScalingPolicy,
  type ScalingState,
} from '../policy/index.js';

/** OVERLOAD is the utilization above which a second counts as violating the SLO. */
export const OVERLOAD = 0.9;

/** SimOptions are the model's knobs. */
export interface SimOptions {
  /** req/s per instance at 100 % CPU. @defaultValue 100 */
  capacity: number;
  /** s from scale-out to ready. @defaultValue 60 */
  startup: number;
  /** s between decisions. @defaultValue 15 */
  interval: number;
}

/**
 * SimMetric is a reading the engine makes from demand, as the live controller reads it: `cpu` is the
 * CPU percent of each ready instance (ceiling 100) tracked at `target` %, averaged over the last
 * `window` seconds (`metric_window`; default 1: the second before the decision); `rps` is the
 * group's request rate, a total, at `target` req/s per instance.
 */
export type SimMetric = { type: 'cpu'; target: number; window?: number } | { type: 'rps'; target: number };

/**
 * presetMetrics are what a preset is fed: CPU at its target and, for a scale-to-zero policy (CPU
 * does not exist at zero instances), the request rate too, first, at the same target — as KEDA
 * scales on an event source.
 */
export function presetMetrics(policy: ScalingPolicy, target: number, capacity: number): SimMetric[] {
  return [
    ...(policy.activation ? [{ type: 'rps' as const, target: (capacity * target) / 100 }] : []),
    { type: 'cpu', target },
  ];
}

/** TimelineRow is one second of a run, for `--timeline`. */
export type TimelineSink = (t: number, demand: number, ready: number, provisioned: number) => void;

/** SimResult is one policy's figures over a replay. */
export interface SimResult {
  policy: string;
  requests: number;
  violation_pct: number;
  instance_hours: number;
  decisions: number;
  scalings: number;
  /** Ready instances per second (for plots). */
  ready: Uint16Array;
}

/**
 * simulate replays `rate` (req/s per second) through a policy fed `metrics`; a number is a preset's
 * CPU target (presetMetrics).
 */
export function simulate(
  rate: Float64Array,
  policy: ScalingPolicy,
  metrics: number | readonly SimMetric[],
  o: SimOptions,
  options: { onSecond?: TimelineSink; onDecision?: (t: number, d: ScalingDecision) => void } = {},
): SimResult {
  const n = rate.length;
  const cap = o.capacity;
  const fed = typeof metrics === 'number' ? presetMetrics(policy, metrics, cap) : metrics;
  if (fed.length === 0) throw new RangeError('simulate: no metric to feed the policy');
  const readyTrace = new Uint16Array(n);
  // Start where the policy's own targets put the first second's demand, so no run starts cold.
  const first = Math.max(
    ...fed.map((m) =>
      Math.ceil((rate[0] ?? 0) / (m.type === 'cpu' ? cap * (m.target / 100) : m.target) - 1e-9),
    ),
  );
  const initial = Math.min(policy.maxInstances, Math.max(policy.minInstances, first, 1));
  // readyAt (s) of every provisioned instance, oldest first.
  let instances: number[] = new Array(initial).fill(0);
  let state: ScalingState = initialScalingState;
  let samples: LoadSample[] = [];
  let requests = 0;
  let violated = 0;
  let instanceSeconds = 0;
  let decisions = 0;
  let scalings = 0;
  let lastCpu = 0;
  // CPU-seconds summed over the run, kept for the last `longest` seconds: cpuSum[k % size] holds the
  // sum over seconds [0, k), so an instance's average over a window is one subtraction.
  const longest = Math.max(1, ...fed.map((m) => (m.type === 'cpu' ? (m.window ?? 1) : 1)));
  const size = longest + 1;
  const cpuSum = new Float64Array(size);
  let cpuTotal = 0;
  /** CPU of each ready instance at the end of second t, averaged over its ready seconds in `window`. */
  const cpuOver = (t: number, window: number): number[] => {
    const values: number[] = [];
    for (const readyAt of instances) {
      if (readyAt > t) continue;
      const from = Math.max(readyAt, t + 1 - window, 0);
      values.push((cpuSum[(t + 1) % size]! - cpuSum[from % size]!) / (t + 1 - from));
    }
    return values;
  };

  for (let t = 0; t < n; t++) {
    const demand = rate[t]!;
    let ready = 0;
    for (const at of instances) if (at <= t) ready++;
    const provisioned = instances.length;
    readyTrace[t] = ready;
    requests += demand;
    if (demand > OVERLOAD * cap * ready) violated += demand;
    instanceSeconds += provisioned;
    options.onSecond?.(t, demand, ready, provisioned);

    if (ready > 0) lastCpu = Math.min(100, (100 * demand) / (ready * cap));
    cpuTotal += lastCpu;
    cpuSum[(t + 1) % size] = cpuTotal;
    // The second's load in instances at target: the largest over the metrics, as samplesOf takes it.
    let sample: LoadSample | undefined;
    for (const m of fed) {
      if (m.type === 'cpu' && ready === 0) continue;
      const load = m.type === 'cpu' ? (lastCpu * ready) / m.target : demand / m.target;
      if (!sample || load > sample.load) {
        sample = { at: t * 1000, load, saturated: m.type === 'cpu' && lastCpu >= 100 };
      }
    }
    if (sample) samples.push(sample);
    if ((t + 1) % o.interval === 0) {
      const now = (t + 1) * 1000;
      const decision = decide(
        {
          current: provisioned,
          ready,
          metrics: fed.map(
            (m): ObservedMetric =>
              m.type === 'rps'
                ? { name: 'rps', target: m.target, kind: 'total', values: [demand] }
                : {
                    name: 'cpu',
                    target: m.target,
                    kind: 'utilization',
                    ceiling: 100,
                    values:
                      ready === 0
                        ? []
                        : (m.window ?? 1) > 1
                          ? cpuOver(t, m.window!)
                          : new Array<number>(ready).fill(lastCpu),
                    unready: provisioned - ready,
                  },
          ),
          samples,
        },
        policy,
        state,
        now,
      );
      decisions++;
      state = decision.nextState;
      samples = [];
      options.onDecision?.(t + 1, decision);
      const desired = decision.desired;
      if (desired > provisioned) {
        for (let i = provisioned; i < desired; i++) instances.push(t + 1 + o.startup);
        scalings++;
      } else if (desired < provisioned) {
        // Starting instances go first (they serve nobody yet), then the newest ready ones.
        instances = instances.sort((a, b) => a - b).slice(0, desired);
        scalings++;
      }
    }
  }
  return {
    policy: policy.name,
    requests,
    violation_pct: requests > 0 ? (100 * violated) / requests : 0,
    instance_hours: instanceSeconds / 3600,
    decisions,
    scalings,
    ready: readyTrace,
  };
}

/** oracle is the cost lower bound: ceil(demand / (0.9 × capacity)) ready every second, no start-up. */
export function oracle(
  rate: Float64Array,
  o: Pick<SimOptions, 'capacity'>,
  min: number,
  max: number,
): SimResult {
  const ready = new Uint16Array(rate.length);
  let requests = 0;
  let violated = 0;
  let instanceSeconds = 0;
  for (let t = 0; t < rate.length; t++) {
    const demand = rate[t]!;
    const need = Math.ceil(demand / (OVERLOAD * o.capacity) - 1e-9);
    const count = Math.min(max, Math.max(min, need));
    ready[t] = count;
    requests += demand;
    if (demand > OVERLOAD * o.capacity * count) violated += demand;
    instanceSeconds += count;
  }
  return {
    policy: 'oracle',
    requests,
    violation_pct: requests > 0 ? (100 * violated) / requests : 0,
    instance_hours: instanceSeconds / 3600,
    decisions: 0,
    scalings: 0,
    ready,
  };
}
