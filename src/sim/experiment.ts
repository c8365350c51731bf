/**
 * runExperiment is the standard experiment of `scaleplane simulate`: the same demand through each
 * named policy (or a configured group's, see replayOfGroup) and the oracle, with figures comparable
 * across runs.
 */
import { type PresetName, presetPolicy, type ScalingPolicy } from '../policy/index.js';
import { buildDemand, type Demand } from './demand.js';
import { oracle, type SimMetric, type SimResult, simulate, type TimelineSink } from './engine.js';

/** PolicyReplay is a policy that is not a preset and the metrics it is fed; its row is `policy.name`. */
export interface PolicyReplay {
  policy: ScalingPolicy;
  metrics: readonly SimMetric[];
}

/** ExperimentOptions are the flags of `scaleplane simulate`, in seconds and req/s. */
export interface ExperimentOptions {
  from: number;
  to?: number;
  aggregate: number;
  peakInstances: number;
  capacity: number;
  /** Replay the trace's rates as they are instead of scaling its peak to peakInstances × capacity. */
  absolute?: boolean;
  startup: number;
  min: number;
  max: number;
  interval: number;
  /** Presets by name, built for min/max/startup/interval, or policies built elsewhere. */
  policies: (PresetName | PolicyReplay)[];
  /** Also run the oracle. */
  withOracle: boolean;
  /** Receives every second of the first policy. */
  timeline?: TimelineSink;
}

/** ExperimentRow is one policy's line of `--json`. */
export interface ExperimentRow {
  policy: string;
  requests: number;
  violation_pct: number;
  instance_hours: number;
  cost_vs_oracle: number;
}

/** runExperiment replays the trace through every policy; rows keep the order asked, oracle last. */
export function runExperiment(
  trace: Float64Array,
  o: ExperimentOptions,
): { demand: Demand; rows: ExperimentRow[]; results: SimResult[] } {
  const demand = buildDemand(trace, o);
  const sim = { capacity: o.capacity, startup: o.startup, interval: o.interval };
  const best = oracle(demand.rate, sim, o.min, o.max);
  const results = o.policies.map((asked, i) => {
    const { policy, metrics } = typeof asked === 'string' ? presetReplay(asked, o) : asked;
    return simulate(demand.rate, policy, metrics, sim, i === 0 && o.timeline ? { onSecond: o.timeline } : {});
  });
  if (o.withOracle) results.push(best);
  const rows = results.map((r) => ({
    policy: r.policy,
    requests: Math.round(r.requests),
    violation_pct: round(r.violation_pct, 3),
    instance_hours: round(r.instance_hours, 1),
    cost_vs_oracle: round(best.instance_hours > 0 ? r.instance_hours / best.instance_hours : 0, 3),
  }));
  return { demand, rows, results };
}

/** presetReplay is a preset for the experiment's bounds and timing, fed CPU at its target. */
function presetReplay(name: PresetName, o: ExperimentOptions): { policy: ScalingPolicy; metrics: number } {
  const { policy, target } = presetPolicy(name, {
    minInstances: o.min,
    maxInstances: o.max,
    startup: o.startup * 1000,
    interval: o.interval * 1000,
  });
  return { policy, metrics: target };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
