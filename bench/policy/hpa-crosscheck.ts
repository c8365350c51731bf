/**
 * An independent re-implementation of the Kubernetes HPA with its defaults (CPU target 70 %), in
 * the simulator's model and in 15-s slots, run side by side with the repo's `hpa` preset to check
 * that the preset is HPA. It imports nothing from src/policy's maths: only src/sim (trace, demand,
 * oracle, the engine) and `presetPolicy` to run the repo's side.
 *
 *   npx tsx bench/policy/hpa-crosscheck.ts --trace FILE [--from S] [--to S]
 *
 * The model (src/sim/engine.ts): demand is the window's per-minute mean scaled so its peak is
 * 20 × 100 req/s; a ready instance serves 100 req/s at 100 % CPU; the HPA syncs at the end of each
 * 15-s slot and sees the CPU of the slot's last second, min(100, demand / ready); a scale-out is
 * ready 60 s after the decision, a scale-in is immediate and removes starting instances first; a
 * second is overloaded when demand > 0.9 × 100 × ready; cost = provisioned instance-seconds
 * (starting ones included) over the oracle's.
 *
 * HPA's defaults, from the Kubernetes source (pkg/controller/podautoscaler):
 *   replica_calculator.go GetResourceReplicas
 *     usageRatio = CPU of ready pods / 70; 0.9 ≤ usageRatio ≤ 1.1 → keep spec.replicas;
 *     no unready pod, or not scaling up → ceil(usageRatio × ready pods);
 *     scaling up with unready pods → they count as 0 %: newRatio over ready + unready; within
 *     tolerance or below 1 → keep; ceil(newRatio × (ready + unready)), never below spec.replicas.
 *   horizontal.go stabilizeRecommendationWithBehaviors
 *     scale-up window 0 s; scale-down window 300 s: at most the highest recommendation made
 *     after now − 300 s (the unstabilized ones are recorded).
 *   horizontal.go convertDesiredReplicasWithBehaviorRate
 *     up: max(ceil(2 × periodStart), periodStart + 4) per 15 s; down: −100 % per 15 s; then
 *     min 1, max 40. periodStart = spec.replicas − changes made after now − 15 s.
 *
 * Two HPAs, each against its repo preset: `hpa`, an HPA with a CPU target and no `spec.behavior`,
 * which the API leaves nil (SetDefaults_HorizontalPodAutoscalerBehavior fills it only when given), so
 * horizontal.go takes normalizeDesiredReplicas + convertDesiredReplicasWithRules: the highest
 * recommendation since now − 300 s inclusive, then at most max(2 × spec.replicas, 4); and
 * `hpa-behavior`, the documented default behavior above written out. Both read utilization as
 * metrics/utilization.go GetResourceUtilizationRatio does: a whole percent, truncated
 * (int32((Σusage × 100) / Σrequests)).
 *
 * Variants (extra rows, each one switch of `HpaOptions`): unready pods ignored (no 0 % rebalance);
 * the previous sync's usage over the pods ready now; ceil(spec.replicas × ratio) with no rebalance;
 * utilization not truncated; the recommendations seeded with the starting count, as horizontal.go
 * recordInitialRecommendation does.
 */
import { parseArgs } from 'node:util';
import { presetPolicy } from '../../src/policy/index.js';
import { buildDemand, oracle, readTrace, simulate } from '../../src/sim/index.js';

const SLOT = 15; // s: HPA's --horizontal-pod-autoscaler-sync-period
const STARTUP = 60; // s from a scale-out to ready
const CAPACITY = 100; // req/s per instance at 100 % CPU
const OVERLOAD = 0.9;
const TARGET = 70; // % CPU
const TOLERANCE = 0.1;
const DOWN_WINDOW = 300; // s, scale-down stabilization
const POLICY_PERIOD = 15; // s, both directions' rate policies
const MIN = 1;
const MAX = 40;

/**
 * within is replica_calculator.go's Tolerances.isWithin: (1 − down) ≤ ratio ≤ (1 + up). Not
 * |1 − ratio| ≤ 0.1, which in floating point puts 77 % of a 70 % target (1.1) outside.
 */
function within(ratio: number): boolean {
  return 1 - TOLERANCE <= ratio && ratio <= 1 + TOLERANCE;
}

/** HpaOptions switch one rule each away from HPA's defaults; all off is HPA. */
interface HpaOptions {
  /** Unready pods are left out instead of counted as 0 % on scale-up. */
  unreadyIgnored?: boolean;
  /** The decision sees the usage sampled at the previous sync (one slot stale), over today's ready pods. */
  previousMetric?: boolean;
  /** ceil(ratio × spec.replicas) outside tolerance, ratio over ready pods, no rebalance. */
  specReplicas?: boolean;
  /** Utilization kept fractional instead of truncated to a whole percent. */
  fractionalPercent?: boolean;
  /** The recommendation history starts with the starting count at the first sync. */
  seedRecommendation?: boolean;
  /**
   * No `spec.behavior` at all: the controller's older path (normalizeDesiredReplicas) — the highest
   * recommendation since now − 300 s inclusive, then at most max(2 × spec.replicas, 4).
   */
  noBehavior?: boolean;
}

interface RunResult {
  violationPct: number;
  instanceSeconds: number;
  /** The desired count of every sync, in order. */
  desired: number[];
}

/** runHpa replays `rate` (req/s per second) through the re-implemented HPA. */
function runHpa(rate: Float64Array, o: HpaOptions): RunResult {
  const n = rate.length;
  // Same start as the engine: the count that puts the first second at the target.
  let readyCount = Math.min(
    MAX,
    Math.max(MIN, Math.ceil((rate[0] ?? 0) / (CAPACITY * (TARGET / 100)) - 1e-9), 1),
  );
  // Instances still starting: the slot index they are ready from, newest last.
  let starting: { readySlot: number; count: number }[] = [];
  let recommendations: { at: number; desired: number }[] = [];
  let scaleEvents: { at: number; change: number }[] = []; // + up, − down
  let requests = 0;
  let violated = 0;
  let instanceSeconds = 0;
  const desiredPerSync: number[] = [];

  for (let slot = 0; slot * SLOT < n; slot++) {
    // Instances whose start-up ends at this slot's start serve from its first second.
    for (const s of starting) if (s.readySlot === slot) readyCount += s.count;
    starting = starting.filter((s) => s.readySlot > slot);
    const startingCount = starting.reduce((sum, s) => sum + s.count, 0);
    const specReplicas = readyCount + startingCount;

    const first = slot * SLOT;
    const end = Math.min(n, first + SLOT);
    for (let t = first; t < end; t++) {
      requests += rate[t]!;
      if (rate[t]! > OVERLOAD * CAPACITY * readyCount) violated += rate[t]!;
      instanceSeconds += specReplicas;
    }
    if (end - first < SLOT) break; // a partial last slot has no sync
    const now = end; // s

    // The previous sync's metric: the usage measured then, over the pods ready now.
    const sampled = o.previousMetric && slot > 0 ? end - 1 - SLOT : end - 1;
    const cpu = Math.min(100, (100 * rate[sampled]!) / (readyCount * CAPACITY));

    // replica_calculator.go: the metric's proposal.
    const utilization = o.fractionalPercent ? cpu : Math.floor(cpu + 1e-9);
    const ratio = utilization / TARGET;
    let proposal: number;
    if (o.specReplicas) {
      proposal = within(ratio) ? specReplicas : Math.ceil(ratio * specReplicas);
    } else if (startingCount === 0 || ratio <= 1 || o.unreadyIgnored) {
      proposal = within(ratio) ? specReplicas : Math.ceil(ratio * readyCount);
    } else {
      const pods = readyCount + startingCount;
      const rebalanced = (cpu * readyCount) / pods;
      const newRatio = (o.fractionalPercent ? rebalanced : Math.floor(rebalanced + 1e-9)) / TARGET;
      if (within(newRatio) || newRatio < 1) proposal = specReplicas;
      else proposal = Math.max(specReplicas, Math.ceil(newRatio * pods));
    }

    // horizontal.go: stabilization (scale-up window 0, so only the scale-down window binds).
    if (o.seedRecommendation && slot === 0) recommendations.push({ at: now, desired: specReplicas });
    if (o.noBehavior) {
      let highestSince = proposal;
      for (const r of recommendations)
        if (r.at >= now - DOWN_WINDOW) highestSince = Math.max(highestSince, r.desired);
      recommendations = recommendations.filter((r) => r.at >= now - DOWN_WINDOW);
      recommendations.push({ at: now, desired: proposal });
      const desired = Math.min(MAX, Math.max(2 * specReplicas, 4), Math.max(MIN, highestSince));
      desiredPerSync.push(desired);
      carryOut(desired, specReplicas, slot);
      continue;
    }
    let highest = proposal;
    for (const r of recommendations) if (r.at > now - DOWN_WINDOW) highest = Math.max(highest, r.desired);
    let stabilized = Math.max(specReplicas, proposal);
    if (stabilized > highest) stabilized = highest;
    recommendations = recommendations.filter((r) => r.at > now - DOWN_WINDOW);
    recommendations.push({ at: now, desired: proposal });

    // horizontal.go: rate policies, then min/max.
    let periodStart = specReplicas;
    for (const e of scaleEvents) if (e.at > now - POLICY_PERIOD) periodStart -= e.change;
    let desired = stabilized;
    if (desired > specReplicas) {
      const upLimit = Math.max(specReplicas, Math.ceil(periodStart * 2), periodStart + 4);
      desired = Math.min(desired, upLimit, MAX);
    } else if (desired < specReplicas) {
      const downLimit = Math.min(specReplicas, Math.trunc(periodStart * 0));
      desired = Math.max(desired, downLimit, MIN);
    }
    desired = Math.min(MAX, Math.max(MIN, desired));
    desiredPerSync.push(desired);
    scaleEvents = scaleEvents.filter((e) => e.at > now - POLICY_PERIOD);
    if (desired !== specReplicas) scaleEvents.push({ at: now, change: desired - specReplicas });
    carryOut(desired, specReplicas, slot);
  }

  // New instances are ready STARTUP s after this sync; a scale-in drops starting ones first.
  function carryOut(desired: number, specReplicas: number, slot: number) {
    if (desired > specReplicas) {
      starting.push({ readySlot: slot + 1 + STARTUP / SLOT, count: desired - specReplicas });
    } else if (desired < specReplicas) {
      let remove = specReplicas - desired;
      while (remove > 0 && starting.length > 0) {
        const newest = starting[starting.length - 1]!;
        const taken = Math.min(remove, newest.count);
        newest.count -= taken;
        remove -= taken;
        if (newest.count === 0) starting.pop();
      }
      readyCount -= remove;
    }
  }
  return {
    violationPct: requests > 0 ? (100 * violated) / requests : 0,
    instanceSeconds,
    desired: desiredPerSync,
  };
}

const { values } = parseArgs({
  options: {
    trace: { type: 'string' },
    from: { type: 'string', default: '0' },
    to: { type: 'string' },
  },
});
if (!values.trace) throw new Error('usage: hpa-crosscheck.ts --trace FILE [--from S] [--to S]');
const { perSecond: trace } = await readTrace(values.trace);
const demand = buildDemand(trace, {
  from: Number(values.from),
  ...(values.to === undefined ? {} : { to: Number(values.to) }),
  aggregate: 60,
  peakInstances: 20,
  capacity: CAPACITY,
});
const best = oracle(demand.rate, { capacity: CAPACITY }, MIN, MAX);
const oracleSeconds = best.instance_hours * 3600;

// A repo preset through the repo's engine, its desired count recorded at every sync.
function runRepo(name: 'hpa' | 'hpa-behavior') {
  const preset = presetPolicy(name, {
    minInstances: MIN,
    maxInstances: MAX,
    startup: STARTUP * 1000,
    interval: SLOT * 1000,
  });
  const desired: number[] = [];
  const result = simulate(
    demand.rate,
    preset.policy,
    preset.target,
    { capacity: CAPACITY, startup: STARTUP, interval: SLOT },
    { onDecision: (_t, d) => desired.push(d.desired) },
  );
  return { result, desired };
}

const sections: { repo: 'hpa' | 'hpa-behavior'; base: HpaOptions; rows: [string, HpaOptions][] }[] = [
  {
    repo: 'hpa',
    base: { noBehavior: true },
    rows: [
      ['re-implementation: no spec.behavior', {}],
      ['variant: utilization not truncated', { fractionalPercent: true }],
      ['variant: unready pods ignored', { unreadyIgnored: true }],
      ["variant: previous sync's metric", { previousMetric: true }],
    ],
  },
  {
    repo: 'hpa-behavior',
    base: {},
    rows: [
      ['re-implementation: documented behavior', {}],
      ['variant: utilization not truncated', { fractionalPercent: true }],
      ['variant: unready pods ignored', { unreadyIgnored: true }],
      ["variant: previous sync's metric", { previousMetric: true }],
      ['variant: ceil(spec.replicas × ratio)', { specReplicas: true }],
      ['variant: initial recommendation', { seedRecommendation: true }],
    ],
  },
];

const pad = (s: string, w: number) => s.padEnd(w);
const line = (name: string, violation: number, cost: number, agreement: string) =>
  `${pad(name, 40)}${violation.toFixed(2).padStart(11)}${cost.toFixed(3).padStart(16)}${agreement.padStart(12)}`;

console.log(
  `${values.trace} [${demand.from}, ${demand.to}) ${demand.to - demand.from} s; oracle ${best.violation_pct.toFixed(2)} % violations`,
);
for (const section of sections) {
  const repo = runRepo(section.repo);
  console.log(
    `${pad(`repo '${section.repo}' (src/policy), ${repo.desired.length} syncs`, 40)}${'violation %'.padStart(11)}${'cost vs oracle'.padStart(16)}${'agreement'.padStart(12)}`,
  );
  console.log(
    line('  repo', repo.result.violation_pct, (repo.result.instance_hours * 3600) / oracleSeconds, '—'),
  );
  for (const [name, options] of section.rows) {
    const r = runHpa(demand.rate, { ...section.base, ...options });
    if (r.desired.length !== repo.desired.length)
      throw new Error(`${r.desired.length} syncs vs ${repo.desired.length}`);
    let same = 0;
    let firstDiff = -1;
    for (let i = 0; i < r.desired.length; i++) {
      if (r.desired[i] === repo.desired[i]) same++;
      else if (firstDiff < 0) firstDiff = i;
    }
    const agreement = `${((100 * same) / Math.max(1, r.desired.length)).toFixed(2)} %`;
    console.log(line(`  ${name}`, r.violationPct, r.instanceSeconds / oracleSeconds, agreement));
    if (name.startsWith('re-implementation') && firstDiff >= 0) {
      const at = (firstDiff + 1) * SLOT;
      console.log(
        `    first disagreement: sync ${firstDiff} (t = ${at} s): ${r.desired[firstDiff]} vs repo ${repo.desired[firstDiff]}`,
      );
    }
  }
}
