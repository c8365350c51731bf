/**
 * The July frontier of one variant of the default policy: replays NASA July (the only trace tuning
 * may look at) at several violation prices and interpolates the violation % at HPA's July cost,
 * so variants are compared at equal cost rather than at equal price.
 *
 *   npx tsx bench/policy/frontier.ts TRACE '{"predictive":{"noiseLags":6}}' 12,14,16
 *
 * TRACE is the NASA workload.txt (or its .tbz2); the variant is a JSON patch of the default policy
 * (`policy`), of its predictive part (`predictive`) and of its CPU `target`, as in tune.ts.
 */
import { presetPolicy, type ScalingPolicy } from '../../src/policy/index.js';
import { buildDemand, oracle, readTrace, simulate } from '../../src/sim/index.js';

const JULY_END = 2_381_545;
const [file, raw = '{}', prices = '12,14,16'] = process.argv.slice(2);
if (!file) throw new Error("usage: frontier.ts TRACE ['{...}'] [PRICE,PRICE,...]");
const { perSecond: trace } = await readTrace(file);
const demand = buildDemand(trace, { from: 0, to: JULY_END, aggregate: 60, peakInstances: 20, capacity: 100 });
const sim = { capacity: 100, startup: 60, interval: 15 };
const timing = { minInstances: 1, maxInstances: 40, startup: 60_000, interval: 15_000 };
const best = oracle(demand.rate, sim, 1, 40);
const costOf = (policy: ScalingPolicy, target: number) => {
  const r = simulate(demand.rate, policy, target, sim);
  return { violation: r.violation_pct, cost: r.instance_hours / best.instance_hours };
};

const hpa = presetPolicy('hpa', timing);
const base = costOf(hpa.policy, hpa.target);
const d = presetPolicy('default', timing);
const v = JSON.parse(raw) as {
  policy?: Partial<ScalingPolicy>;
  predictive?: Partial<NonNullable<ScalingPolicy['predictive']>>;
  target?: number;
};
const points = prices.split(',').map((p) => {
  const price = Number(p);
  const policy: ScalingPolicy = {
    ...d.policy,
    ...v.policy,
    predictive: { ...d.policy.predictive!, ...v.predictive, violationCost: price },
  };
  return { price, ...costOf(policy, v.target ?? d.target) };
});
const sorted = [...points].sort((a, b) => a.cost - b.cost);
let atHpa: number | undefined;
for (let i = 1; i < sorted.length; i++) {
  const a = sorted[i - 1]!;
  const b = sorted[i]!;
  if (a.cost <= base.cost && b.cost >= base.cost && b.cost > a.cost) {
    atHpa = a.violation + ((b.violation - a.violation) * (base.cost - a.cost)) / (b.cost - a.cost);
  }
}
console.log(`hpa ${base.violation.toFixed(2)} % at ${base.cost.toFixed(3)}×`);
for (const p of points) console.log(`price ${p.price}: ${p.violation.toFixed(2)} % at ${p.cost.toFixed(3)}×`);
console.log(
  atHpa === undefined
    ? "HPA's cost is outside these prices: add a lower or higher one"
    : `at HPA's cost: ${atHpa.toFixed(2)} % (goal ≤ ${(base.violation / 2).toFixed(2)} %)`,
);
