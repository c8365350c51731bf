/**
 * decide is THE scaling decision: the live controller and the simulator both call it. Stages, in
 * order, each one function with a name the journal repeats:
 *
 *   1. observe       fold the snapshot's load samples into the state's windows and history
 *   2. reactive      HPA replica calculation per metric, the largest wins (or AWS step alarms)
 *   3. predicted     max(reactive, forecast peak over the start-up horizon)   [predictive]
 *   4. stabilized    HPA stabilization windows per direction
 *   5. rateLimited   HPA Pods/Percent policies per period, selectPolicy; min/max
 *                    (4 + 5 with `normalization: legacy`: an HPA without `behavior`)
 *   6. panicked      KPA panic floor; no scale-down while panicking            [panic]
 *   7. activated     KEDA scale to / from zero                                 [activation]
 *
 * Pure: `now` and the state come in, the decision and the next state go out.
 */
import { activationStage } from './activation.js';
import { limitRate, longestPeriod, normalizeLegacy, recordEvent } from './behavior.js';
import { type PanicState, panicStage, windowAverage } from './panic.js';
import { observeHistory, predictiveFloor } from './predictive.js';
import { loadOf, replicasForMetric, tolerancesOf } from './replica-calculator.js';
import { stepProposal } from './step.js';
import { stabilize } from './target-tracking.js';
import type {
  LoadSample,
  MetricProposal,
  ObservedMetric,
  ScalingDecision,
  ScalingPolicy,
  ScalingState,
  Snapshot,
  StageReason,
  StageTrace,
} from './types.js';

/** initialScalingState is the empty memory of a policy. */
export const initialScalingState: ScalingState = {
  recommendations: [],
  scaleUpEvents: [],
  scaleDownEvents: [],
  recent: [],
};

/** samplesOf returns the snapshot's samples, or one sample derived from its metrics at `now`. */
export function samplesOf(snapshot: Snapshot, now: number): LoadSample[] {
  if (snapshot.samples && snapshot.samples.length > 0) return [...snapshot.samples];
  let best: LoadSample | undefined;
  for (const m of snapshot.metrics) {
    const l = loadOf(m);
    if (l && (!best || l.load > best.load)) best = { at: now, ...l };
  }
  return best ? [best] : [];
}

function recentWindow(policy: ScalingPolicy): number {
  return Math.max(policy.panic?.window ?? 0, policy.predictive?.levelWindow ?? 0);
}

/** observe is stage 1: the state with this snapshot's samples folded in. */
export function observe(
  policy: ScalingPolicy,
  state: ScalingState,
  samples: readonly LoadSample[],
  now: number,
) {
  const keep = recentWindow(policy);
  let recent = state.recent;
  if (keep > 0) {
    const cutoff = now - keep;
    const start = recent.findIndex((s) => s.at > cutoff);
    recent = [...(start === -1 ? [] : recent.slice(start)), ...samples.filter((s) => s.at > cutoff)];
  }
  const history = policy.predictive ? observeHistory(policy.predictive, state, samples) : {};
  return { ...state, recent, ...history };
}

function primaryTarget(snapshot: Snapshot): number {
  return snapshot.metrics[0]?.target ?? 0;
}

/** decide runs the whole pipeline for one group. */
export function decide(
  snapshot: Snapshot,
  policy: ScalingPolicy,
  state: ScalingState,
  now: number,
): ScalingDecision {
  const { current, ready } = snapshot;
  const stages: StageTrace[] = [];
  const reasons: StageReason[] = [];
  const note = (stage: string, desired: number, reason?: StageReason) => {
    stages.push(reason ? { stage, desired, reason } : { stage, desired });
    if (reason && !reasons.includes(reason)) reasons.push(reason);
  };
  const observed = observe(policy, state, samplesOf(snapshot, now), now);
  // KEDA: the HPA part never goes below 1; zero is the activation stage's call alone.
  const floorMin = policy.activation ? Math.max(1, policy.minInstances) : policy.minInstances;
  const base = Math.max(current, policy.activation ? 1 : 0);

  // 2. reactive
  const r = reactiveStage(snapshot, policy, base, state.lastScaleAt, now);
  const { proposals, hasMetric } = r;
  let lastScaleAt = state.lastScaleAt;
  note('reactive', r.reactive, r.reason);
  if (r.missing) reasons.push('MetricMissing');

  // 3. predicted
  let predicted = r.reactive;
  if (policy.predictive && hasMetric) {
    const floor = predictiveFloor(
      policy.predictive,
      observed,
      observed.recent,
      now,
      primaryTarget(snapshot),
      policy.maxInstances,
    );
    if (floor > predicted) {
      predicted = floor;
      note('predicted', predicted, 'Predicted');
    }
  }

  // 4. stabilized + 5. rateLimited (+ min/max)
  const n = normalizeStage(policy, state, base, hasMetric ? predicted : null, floorMin, now);
  if (n.stabilized) note('stabilized', n.stabilized.desired, n.stabilized.reason);
  let desired = n.desired;
  note('rateLimited', desired, n.reason);
  const recommendations = n.recommendations;

  // 6. panicked
  let panicState: PanicState = {
    panicSince: state.panicSince,
    panicLastOver: state.panicLastOver,
    panicMax: state.panicMax,
  };
  if (policy.panic) {
    const p = panicStage(policy.panic, observed.recent, ready, base, panicState, now);
    panicState = p.state;
    if (p.noScaleDown && desired < base) desired = base;
    if (p.floor > desired) desired = Math.min(policy.maxInstances, p.floor);
    if (p.reason) note('panicked', desired, p.reason);
  }

  // 7. activated
  let lastActiveAt = state.lastActiveAt;
  if (policy.activation) {
    const a = activationStage(
      policy.activation,
      snapshot.metrics,
      current,
      desired,
      policy.minInstances,
      lastActiveAt,
      now,
    );
    desired = a.desired;
    lastActiveAt = a.lastActiveAt;
    if (a.reason) note('activated', desired, a.reason);
  }

  if (desired !== current) lastScaleAt = now;
  const events = recordEvent(
    state.scaleUpEvents,
    state.scaleDownEvents,
    current,
    desired,
    now,
    longestPeriod(policy.scaleUp, policy.scaleDown),
  );
  const nextState: ScalingState = {
    ...observed,
    recommendations,
    scaleUpEvents: events.up,
    scaleDownEvents: events.down,
    panicSince: panicState.panicSince,
    panicLastOver: panicState.panicLastOver,
    panicMax: panicState.panicMax,
    ...(lastScaleAt === undefined ? {} : { lastScaleAt }),
    ...(lastActiveAt === undefined ? {} : { lastActiveAt }),
  };
  return {
    current,
    desired,
    reasons,
    message: describe(current, desired, stages, proposals, snapshot.metrics),
    stages,
    proposals,
    nextState,
  };
}

/** Reactive is stage 2's outcome: the count the metrics (or step alarms) ask for and why. */
interface Reactive {
  reactive: number;
  reason: StageReason;
  proposals: MetricProposal[];
  /** False when no metric could be read: nothing later may act on a gap. */
  hasMetric: boolean;
  /** Some source failed while others answered (a reason on top of the winner's). */
  missing: boolean;
}

/** reactiveStage is stage 2: HPA's replica calculation per metric, the largest wins; or AWS step alarms. */
function reactiveStage(
  snapshot: Snapshot,
  policy: ScalingPolicy,
  base: number,
  lastScaleAt: number | undefined,
  now: number,
): Reactive {
  if (policy.step) {
    const step = policy.step;
    const r = stepProposal(step, {
      current: base,
      ready: snapshot.ready,
      metric: snapshot.metrics.find((m) => m.name === step.metric),
      lastScaleAt,
      now,
    });
    return {
      reactive: r.desired,
      reason: r.reason,
      proposals: [],
      hasMetric: r.reason !== 'MetricMissing',
      missing: false,
    };
  }
  const tol = tolerancesOf(policy.scaleUp, policy.scaleDown);
  const wholePercent = policy.utilization === 'whole-percent';
  const proposals = snapshot.metrics.map((m) =>
    replicasForMetric(m, base, tol, policy.unready, wholePercent),
  );
  const valid = proposals.filter((p) => p.proposal !== null);
  // A failing source is HPA's missing metric: the others may scale up, never down because of it.
  const failing = proposals.some((p) => p.reason === 'MetricMissing');
  if (valid.length === 0)
    return { reactive: base, reason: 'NoMetrics', proposals, hasMetric: false, missing: false };
  const winner = valid.reduce((a, b) => ((b.proposal ?? 0) > (a.proposal ?? 0) ? b : a));
  const reactive = failing ? Math.max(base, winner.proposal!) : winner.proposal!;
  return { reactive, reason: winner.reason, proposals, hasMetric: true, missing: failing };
}

/** Normalized is stages 4 and 5: the count after stabilization, rate limits and min/max. */
interface Normalized {
  desired: number;
  reason: StageReason;
  /** Set when stabilization held the count somewhere else than asked. */
  stabilized?: { desired: number; reason: StageReason };
  recommendations: ScalingState['recommendations'];
}

/**
 * normalizeStage is stages 4 and 5 — the documented `behavior` rules, or with `normalization:
 * legacy` what Kubernetes runs for an HPA without `behavior` (one window, one step limit).
 * `asked` is null without a metric: the count stays (within min/max) and nothing is recorded,
 * since a gap must not look like a low recommendation later.
 */
function normalizeStage(
  policy: ScalingPolicy,
  state: ScalingState,
  base: number,
  asked: number | null,
  min: number,
  now: number,
): Normalized {
  const max = policy.maxInstances;
  if (policy.normalization === 'legacy') {
    const legacy = normalizeLegacy({
      current: base,
      prenormalized: asked ?? base,
      recommendations: state.recommendations,
      window: policy.scaleDown.stabilizationWindow,
      min,
      max,
      now,
    });
    return {
      desired: asked === null ? Math.min(max, Math.max(min, base)) : legacy.desired,
      reason: asked === null ? 'DesiredWithinRange' : legacy.reason,
      ...(legacy.stabilizedReason && {
        stabilized: { desired: legacy.stabilized, reason: legacy.stabilizedReason },
      }),
      recommendations: asked === null ? state.recommendations : legacy.recommendations,
    };
  }
  const stab = stabilize(
    base,
    asked ?? base,
    state.recommendations,
    {
      scaleUpStabilization: policy.scaleUp.stabilizationWindow,
      scaleDownStabilization: policy.scaleDown.stabilizationWindow,
    },
    now,
  );
  const limited = limitRate({
    current: base,
    desired: asked === null ? base : stab.stabilized,
    min,
    max,
    scaleUp: policy.scaleUp,
    scaleDown: policy.scaleDown,
    upEvents: state.scaleUpEvents,
    downEvents: state.scaleDownEvents,
    now,
  });
  return {
    desired: limited.desired,
    reason: limited.reason,
    ...(stab.reason && { stabilized: { desired: stab.stabilized, reason: stab.reason } }),
    recommendations: asked === null ? state.recommendations : stab.recommendations,
  };
}

/** recordManualChange puts a count set by hand into the state, so stabilization holds it. */
export function recordManualChange(state: ScalingState, desired: number, now: number): ScalingState {
  return { ...state, recommendations: [...state.recommendations, { at: now, desired }] };
}

/** panicLoad is the panic-window load the last decision saw, for status output. */
export function panicLoad(policy: ScalingPolicy, state: ScalingState, now: number): number | null {
  return policy.panic ? (windowAverage(state.recent, policy.panic.window, now)?.average ?? null) : null;
}

function describe(
  current: number,
  desired: number,
  stages: readonly StageTrace[],
  proposals: readonly MetricProposal[],
  metrics: readonly ObservedMetric[],
): string {
  const bytes = new Set(metrics.filter((m) => m.unit === 'bytes').map((m) => m.name));
  const show = (name: string, v: number) =>
    bytes.has(name) ? `${Math.round((v / 1048576) * 10) / 10} MiB` : String(Math.round(v * 10) / 10);
  const signals = proposals
    .map((p) =>
      p.average === null
        ? `${p.name} missing`
        : `${p.name} ${show(p.name, p.average)} vs target ${show(p.name, p.target)}`,
    )
    .join(', ');
  const path = stages.map((s) => `${s.stage} ${s.desired}${s.reason ? ` (${s.reason})` : ''}`).join(' → ');
  return `${current} → ${desired}: ${signals ? `${signals}; ` : ''}${path}`;
}
