/**
 * Where the default policy's July violations and cost come from, next to HPA's, and how well the
 * one-minute-ahead forecast's Normal noise model is calibrated. NASA July only (the tuning trace).
 *
 *   npx tsx bench/policy/anatomy.ts TRACE
 *
 * Violations: an overloaded minute whose overload ends within its first 15 s was missed only by
 * the order made two minutes ahead (the top-up made once the minute before was seen came in
 * 15 s late); a minute overloaded throughout was missed by the one-minute-ahead forecast and its
 * headroom, which is what a better policy would have to forecast better.
 * Cost (units of the oracle's instance-seconds): seconds instances spent starting, ready
 * instances above what each second needed, and seconds short of it.
 * Calibration: for each minute, z = (demand − forecast) / σ of the forecast made 15 s into the
 * minute before; the demand-weighted share above k σ against what the Normal model expects.
 */
import { forecastLoad, loadAbove } from '../../src/policy/forecast.js';
import { presetPolicy } from '../../src/policy/index.js';
import { forecastSpecOf, type HistoryState } from '../../src/policy/predictive.js';
import { buildDemand, OVERLOAD, readTrace, simulate } from '../../src/sim/index.js';

const JULY_END = 2_381_545;
const MINUTE = 60;
const CAPACITY = 100;
const [file] = process.argv.slice(2);
if (!file) throw new Error('usage: anatomy.ts TRACE');
const { perSecond: trace } = await readTrace(file);
const { rate } = buildDemand(trace, {
  from: 0,
  to: JULY_END,
  aggregate: MINUTE,
  peakInstances: 20,
  capacity: CAPACITY,
});
const sim = { capacity: CAPACITY, startup: 60, interval: 15 };
const timing = { minInstances: 1, maxInstances: 40, startup: 60_000, interval: 15_000 };
const need = (demand: number) => Math.max(1, Math.ceil(demand / (OVERLOAD * CAPACITY) - 1e-9));

let oracleSeconds = 0;
let requests = 0;
for (const d of rate) {
  oracleSeconds += need(d);
  requests += d;
}
const pct = (x: number) => `${((100 * x) / requests).toFixed(2)} %`;
const ofOracle = (x: number) => `${(x / oracleSeconds).toFixed(3)}×`;

for (const name of ['default', 'hpa'] as const) {
  const { policy, target } = presetPolicy(name, timing);
  const overloadedSeconds = new Map<number, { seconds: number; demand: number }>();
  let starting = 0;
  let headroom = 0;
  let short = 0;
  let provisionedSeconds = 0;
  simulate(rate, policy, target, sim, {
    onSecond: (t, demand, ready, provisioned) => {
      provisionedSeconds += provisioned;
      starting += provisioned - ready;
      const n = need(demand);
      if (ready >= n) headroom += ready - n;
      else short += n - ready;
      if (demand > OVERLOAD * CAPACITY * ready) {
        const m = Math.floor(t / MINUTE);
        const o = overloadedSeconds.get(m) ?? { seconds: 0, demand: 0 };
        overloadedSeconds.set(m, { seconds: o.seconds + 1, demand: o.demand + demand });
      }
    },
  });
  const kinds = {
    firstQuarter: { minutes: 0, demand: 0 },
    whole: { minutes: 0, demand: 0 },
    other: { minutes: 0, demand: 0 },
  };
  for (const o of overloadedSeconds.values()) {
    const k = o.seconds <= 15 ? kinds.firstQuarter : o.seconds === MINUTE ? kinds.whole : kinds.other;
    k.minutes++;
    k.demand += o.demand;
  }
  console.log(
    `${name}: cost ${ofOracle(provisionedSeconds)} = 1 + starting ${ofOracle(starting)} + headroom ${ofOracle(headroom)} − short ${ofOracle(short)}`,
  );
  console.log(
    `  violations: first 15 s only ${pct(kinds.firstQuarter.demand)} (${kinds.firstQuarter.minutes} min), ` +
      `whole minute ${pct(kinds.whole.demand)} (${kinds.whole.minutes} min), other ${pct(kinds.other.demand)} (${kinds.other.minutes} min)`,
  );
}

// Calibration of the default's one-minute-ahead forecast, made 15 s into each minute (when the
// minute's demand is known: it is constant within the minute).
const { policy, target } = presetPolicy('default', timing);
const spec = forecastSpecOf(policy.predictive!)!;
const scale = target / policy.predictive!.utilization!;
const minutes: { demand: number; level: number; sigma: number }[] = [];
simulate(rate, policy, target, sim, {
  onDecision: (t, decision) => {
    if (t % MINUTE !== 15) return;
    const next = (Math.floor(t / MINUTE) + 1) * MINUTE;
    if (next >= rate.length) return;
    const state = decision.nextState as HistoryState;
    const f = forecastLoad(spec, state.forecaster, state.openBucket, 1);
    if (f && f.sigma > 0) {
      minutes.push({
        demand: rate[next]! / (OVERLOAD * CAPACITY),
        level: f.level * scale,
        sigma: f.sigma * scale,
      });
    }
  },
});
const total = minutes.reduce((s, m) => s + m.demand, 0);
console.log(
  `default's forecast of the next minute, ${minutes.length} minutes (demand-weighted share above level + k σ):`,
);
for (const k of [0, 1, 2, 3, 4]) {
  let seen = 0;
  let expected = 0;
  for (const m of minutes) {
    const x = m.level + k * m.sigma;
    if (m.demand > x) seen += m.demand;
    expected += loadAbove(m.level, m.sigma, x);
  }
  console.log(`  k ${k}: seen ${(seen / total).toFixed(4)}, Normal ${(expected / total).toFixed(4)}`);
}
