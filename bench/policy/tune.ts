/**
 * Tuning of the default policy on NASA July (the only trace tuning may look at): replays the
 * standard experiment for HPA and for each candidate setting and prints violation % and cost.
 *
 *   npx tsx bench/policy/tune.ts TRACE ['{"predictive":{"violationCost":20}}' ...]
 *
 * TRACE is the NASA workload.txt (or its .tbz2); the window is July: seconds [0, 2381545). Each
 * further argument is a variant of the default: a JSON patch of the policy and of its predictive
 * part; without any, the default as shipped.
 */
import { presetPolicy, type ScalingPolicy } from '../../src/policy/index.js';
import { buildDemand, oracle, readTrace, simulate } from '../../src/sim/index.js';

const JULY_END = 2_381_545;
const [file, ...rest] = process.argv.slice(2);
if (!file) throw new Error('usage: tune.ts TRACE [\'{"predictive":{...}}\' ...]');
const { perSecond: trace } = await readTrace(file);
const demand = buildDemand(trace, { from: 0, to: JULY_END, aggregate: 60, peakInstances: 20, capacity: 100 });
const sim = { capacity: 100, startup: 60, interval: 15 };
const timing = { minInstances: 1, maxInstances: 40, startup: 60_000, interval: 15_000 };
const best = oracle(demand.rate, sim, 1, 40);

function run(label: string, policy: ScalingPolicy, target: number) {
  const r = simulate(demand.rate, policy, target, sim);
  const cost = r.instance_hours / best.instance_hours;
  console.log(`${label.padEnd(40)} ${r.violation_pct.toFixed(2).padStart(6)} %  ${cost.toFixed(3)}×`);
  return { violation: r.violation_pct, cost };
}

const hpa = presetPolicy('hpa', timing);
const base = run('hpa', hpa.policy, hpa.target);
console.log(`goal: ≤ ${(base.violation / 2).toFixed(2)} % at ≤ ${base.cost.toFixed(3)}×`);
const d = presetPolicy('default', timing);
interface Variant {
  policy?: Partial<ScalingPolicy>;
  predictive?: Partial<NonNullable<ScalingPolicy['predictive']>>;
  target?: number;
}
for (const raw of rest.length > 0 ? rest : ['{}']) {
  const v = JSON.parse(raw) as Variant;
  const policy: ScalingPolicy = {
    ...d.policy,
    ...v.policy,
    predictive: { ...d.policy.predictive!, ...v.predictive },
  };
  run(`default ${raw}`, policy, v.target ?? d.target);
}
