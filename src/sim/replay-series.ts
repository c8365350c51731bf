import type { DashboardSample, ReplaySeries } from '../dashboard/types.js';
import type { Demand } from './demand.js';
import type { SimResult } from './engine.js';

/** MAX_POINTS bounds a replay page: a month per second would be millions of points per chart. */
const MAX_POINTS = 2000;

/**
 * toReplaySeries turns a simulator run into what the dashboard's replay page draws: one group per
 * policy, sampled every `step` seconds (at least a minute, at most MAX_POINTS samples) with the
 * mean demand, mean ready instances, the CPU they would run at, and the share of overloaded seconds
 * as the error rate. Times count from the window's first second. Pure.
 */
export function toReplaySeries(
  demand: Demand,
  results: readonly SimResult[],
  options: { capacity: number; title?: string; minInstances?: number; maxInstances?: number },
): ReplaySeries {
  const n = demand.rate.length;
  const step = Math.max(60, Math.ceil(n / MAX_POINTS));
  return {
    title: options.title ?? 'Scaleplane simulation',
    subtitle: `trace seconds [${demand.from}, ${demand.to}); one point per ${step} s; times from the window start`,
    groups: results.map((result) => ({
      name: result.policy,
      decisions: [],
      ...(options.minInstances !== undefined && { minInstances: options.minInstances }),
      ...(options.maxInstances !== undefined && { maxInstances: options.maxInstances }),
      samples: samplesOf(demand.rate, result.ready, step, options.capacity),
    })),
  };
}

function samplesOf(
  rate: Float64Array,
  ready: Uint16Array,
  step: number,
  capacity: number,
): DashboardSample[] {
  const samples: DashboardSample[] = [];
  for (let start = 0; start < rate.length; start += step) {
    const end = Math.min(rate.length, start + step);
    let demandSum = 0;
    let readySum = 0;
    let overloaded = 0;
    for (let t = start; t < end; t++) {
      const r = ready[t] ?? 0;
      demandSum += rate[t]!;
      readySum += r;
      // The simulator's own definition of an overloaded second.
      if (rate[t]! > 0.9 * capacity * r) overloaded++;
    }
    const seconds = end - start;
    const meanDemand = demandSum / seconds;
    const meanReady = readySum / seconds;
    samples.push({
      t: start * 1000,
      rps: meanDemand,
      errorRate: overloaded / seconds,
      p50: null,
      p99: null,
      cpu: meanReady > 0 ? Math.min(100, (100 * meanDemand) / (meanReady * capacity)) : null,
      // The engine reports ready instances per second, not the provisioned count.
      desired: null,
      ready: meanReady,
      inFlight: null,
    });
  }
  return samples;
}
