import type { GroupConfig } from '../config/index.js';
import type { ScaleplaneMetrics } from '../metrics/index.js';
import { isMissingMetric } from '../metrics/missing-metric.js';
import {
  chooseStartup,
  DEFAULT_INTERVAL,
  decide,
  formatStartup,
  groupPolicy,
  initialScalingState,
  type LoadSample,
  type MetricProposal,
  medianStartup,
  memoryOf,
  type ObservedMetric,
  observe,
  providerStartup,
  recordManualChange,
  recordStartup,
  restoreMemory,
  type ScalingDecision,
  type ScalingPolicy,
  type ScalingState,
  type Startup,
} from '../policy/index.js';
import {
  autoscalerSpec,
  type Instance,
  type InstanceSize,
  type Provider,
  validateSize,
} from '../providers/index.js';
import { OutOfRangeError } from './errors.js';
import type { DecisionJournal, JournalEntry } from './journal.js';
import { judgeNotice, restoredNotice } from './limit-notice.js';
import { DESIRED_SOURCES } from './persist.js';
import type { PolicyMemoryFile } from './policy-memory.js';
import { formatSize, planResizeResume } from './resize-resume.js';

/**
 * How long a provider call that has not taken a change may run before the policy's same decision asks
 * for it again (a call that never answers must not block the group for good).
 */
export const PENDING_REISSUE_MS = 300_000;

/** ManualAction is what the control API and CLI may ask of a group. */
export type ManualAction = 'scale-out' | 'scale-in' | 'set';

/**
 * ReadMetrics turns a group's current instances into the readings the policy consumes. A reading
 * without `unready` gets the group's not-ready instances; a failed source sets `error` (a missing
 * metric to the policy), and reports the failure itself: the controller does not log it.
 */
export type ReadMetrics = (instances: readonly Instance[], now: number) => ObservedMetric[];

/** Logger is the small slice of pino the controller uses. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** GroupControllerOptions wires one group's controller. */
export interface GroupControllerOptions {
  config: GroupConfig;
  provider: Provider;
  journal: DecisionJournal;
  metrics: ScaleplaneMetrics;
  readMetrics: ReadMetrics;
  /**
   * The group's load samples since the previous decision, one per sampling tick (GroupReadings):
   * what the panic window and the forecast fold in. Absent or empty: one sample is derived from the
   * readings at decision time, unless one of them is missing (then none: it would understate).
   */
  takeSamples?: () => readonly LoadSample[];
  /**
   * True when `takeSamples` gives every measurement there was (a group read from PodMetrics alone,
   * one sample per metrics-server scrape): none then means nothing new, and no sample is derived
   * from the readings, which would count the last measurement again as load seen now.
   * @defaultValue false
   */
  samplesComplete?: () => boolean;
  logger: Logger;
  /** Where a predictive policy keeps its history across restarts; absent: in memory only. */
  memory?: PolicyMemoryFile;
  /** `controller.interval`, ms: with the group's start-up, a preset's forecast horizon. @defaultValue 15000 */
  interval?: number;
  /**
   * The wall clock, ms since the epoch: the clock of the instances' `startedAt` (a local process's
   * Date.now, a pod's creationTimestamp, an EC2 launch time), which start-up learning compares with
   * its own start. @defaultValue Date.now
   */
  wallClock?: () => number;
}

/**
 * GroupController owns the desired count of one group: it asks the policy on every tick,
 * applies manual scaling, and journals every change with its reasons. The policy stays pure;
 * this class only feeds it and carries its answer to the provider.
 */
export class GroupController {
  readonly name: string;
  #config: GroupConfig;
  readonly provider: Provider;
  readonly #journal: DecisionJournal;
  readonly #metrics: ScaleplaneMetrics;
  readonly #readMetrics: ReadMetrics;
  readonly #takeSamples: (() => readonly LoadSample[]) | undefined;
  readonly #samplesComplete: () => boolean;
  readonly #logger: Logger;
  /** The same policy code the simulator replays; undefined when the group is scaled by hand. */
  #policy: ScalingPolicy | undefined;
  #policyState: ScalingState = initialScalingState;
  #lastDecision: ScalingDecision | undefined;
  /** The limit notice in force (see limit-notice.ts): a blocked scale-out is journaled once, not every tick, and its end once. */
  #lastNoticeKey = '';
  readonly #memory: PolicyMemoryFile | undefined;
  /** History length last written to #memory: it is written once per closed bucket. */
  #savedBuckets = -1;
  readonly #interval: number;
  /** The start-up the policy was built with: `scaling.startup`, learnt, or the provider's fallback. */
  #startup: Startup;
  /** Start→ready durations of instances this controller started, oldest first (the last 9). */
  #startupSamples: number[] = [];
  /** The samples array last written to #memory (recordStartup makes a new one per sample). */
  #savedStartups: readonly number[] = this.#startupSamples;
  /** Instances already measured, or present when the controller started (adopted): not measured. */
  readonly #measured = new Set<string>();
  /** The provider call of the latest change, while it runs: the same change is not asked again meanwhile. */
  #pending: { desired: number; since: number; noted: boolean } | undefined;
  /**
   * When start() last ran, on the wall clock (that of the instances' `startedAt`); nothing is learnt
   * before it (a standby starts nothing). Before, it was the decision time `now`, on the decision
   * clock (clock.ts), which a step back of the system clock since the process started puts ahead of
   * the wall clock: every instance this controller started then looked started before it, and no
   * start-up was ever learnt.
   */
  #since: number | undefined;
  readonly #wallClock: () => number;
  /**
   * The count the provider last took from this controller (or kept when a call of ours failed):
   * with no call of ours running, a provider count other than this was set by another client.
   * Undefined until the start's call ended.
   */
  #known: number | undefined;
  /**
   * A change the provider deferred (another operation of the group ran: an AWS scaling activity)
   * that no policy decision will ask for again: a manual scale, a reload's or a start's count.
   * `retryDeferred` (each tick of the control loop) asks for it again until it is made or a newer
   * change replaces it. Before, a manual scale refused that way was journaled ScaleDeferred and
   * dropped, though the API had answered 202: a group without a policy never got the count asked.
   */
  #deferred: { desired: number; source: 'api' | 'startup' | 'reload' } | undefined;

  constructor(options: GroupControllerOptions) {
    this.name = options.config.name;
    this.#config = options.config;
    this.provider = options.provider;
    this.#journal = options.journal;
    this.#metrics = options.metrics;
    this.#readMetrics = options.readMetrics;
    this.#takeSamples = options.takeSamples;
    this.#samplesComplete = options.samplesComplete ?? (() => false);
    this.#logger = options.logger;
    this.#interval = options.interval ?? DEFAULT_INTERVAL;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#startup = this.#chooseStartup(options.config).startup;
    this.#policy = groupPolicy(options.config, { interval: this.#interval, startup: this.#startup.ms });
    this.#memory = this.#policy?.predictive ? options.memory : undefined;
  }

  /** config is the group's running config (a reload may replace bounds and scaling). */
  get config(): GroupConfig {
    return this.#config;
  }

  /**
   * reconfigure applies a reloaded config: new bounds and scaling policy from the next tick on. The
   * policy's history is kept. A desired count outside the new bounds is brought inside at once and
   * journaled (`ConfigReload`); otherwise the reload is journaled without a change.
   */
  reconfigure(
    config: GroupConfig,
    now: number,
    detail: {
      by: string;
      changes: readonly string[];
      /** False on a standby: the leader brings the count inside the bounds; this one changes nothing. */
      apply?: boolean;
    },
  ): JournalEntry {
    this.#config = config;
    // `scaling.startup` added or removed: the configured one, or what was learnt, or the fallback.
    this.#startup = this.#chooseStartup(config).startup;
    this.#policy = groupPolicy(config, { interval: this.#interval, startup: this.#startup.ms });
    // A scale under way counts as where the group is heading: the provider's count may not show it
    // yet (AWS writes it after a fresh poll), and fitting that older count left the scale to 5 to
    // finish above a max_instances just lowered to 3.
    const before = this.#pending?.desired ?? this.provider.desired();
    const fitted = Math.min(config.maxInstances, Math.max(config.minInstances, before));
    const after = detail.apply === false ? before : fitted;
    const what = detail.changes.length === 0 ? 'no change to this group' : detail.changes.join(', ');
    const entry = this.#journal.append(
      {
        group: this.name,
        source: 'reload',
        before,
        after,
        reasons: ['ConfigReload'],
        message: `config reloaded by ${detail.by} (${what})${after === before ? '' : `: ${before} → ${after} to fit ${config.minInstances}..${config.maxInstances}`}${fitted === after ? '' : '; standing by: the leader fits the count'}`,
        inputs: {
          min: config.minInstances,
          max: config.maxInstances,
          by: detail.by,
          changes: [...detail.changes],
        },
      },
      now,
    );
    // The engine's own bounds (an Auto Scaling group's MinSize/MaxSize) follow, or it refuses the
    // scales the new bounds allow; the provider orders that write with the scale below.
    // An engine that scales by itself (mode: hpa) is told the `scaling` it runs; called before the
    // bounds, so that one write of its HPA carries both.
    this.provider.setAutoscaler?.(autoscalerSpec(config.scaling)).catch((err: unknown) => {
      this.#logger.error(
        { err, group: this.name },
        "writing the reloaded scaling into the engine's autoscaler failed; the next reload or start writes it",
      );
    });
    this.provider.setBounds?.(config.minInstances, config.maxInstances).catch((err: unknown) => {
      this.#logger.error(
        { err, group: this.name, min: config.minInstances, max: config.maxInstances },
        `setting the engine's bounds to ${config.minInstances}..${config.maxInstances} failed; the next scale sets them`,
      );
    });
    if (after !== before) {
      this.#policyState = recordManualChange(this.#policyState, after, now);
      void this.#apply(after, 'reload', now);
    }
    return entry;
  }

  /**
   * followProvider journals a count another client set on the engine since this controller's last
   * change (kubectl scale, the AWS console, a scheduled action; the providers follow it into
   * `desired()`), source `provider`, reason `DesiredChangedElsewhere`, and takes it as a manual
   * change (scale-down stabilization holds it, as a change through the API). Before, only the
   * provider's log said so: the journal went from `… → 3` to a decision `6 → …` with nothing
   * between, and the state store kept 3, so a restart or a new leader scaled the group back to 3.
   * Nothing while a call of ours runs (the provider's count is then ours on its way). While the
   * engine's HPA owns the count (`mode: hpa`) its scaling is journaled the same way, with the why the
   * HPA's status gives (`explainScaling`: its metrics against their targets, its conditions),
   * once the provider has read it; before, those changes were journaled not at all.
   */
  followProvider(now: number): JournalEntry | undefined {
    const known = this.#known;
    if (known === undefined || this.#pending !== undefined) return undefined;
    const current = this.provider.desired();
    if (current === known) return undefined;
    if ((this.provider as { autoscaled?: boolean }).autoscaled)
      return this.#followEngine(known, current, now);
    this.#known = current;
    this.#policyState = recordManualChange(this.#policyState, current, now);
    return this.#journal.append(
      {
        group: this.name,
        source: 'provider',
        before: known,
        after: current,
        reasons: ['DesiredChangedElsewhere'],
        message: `${known} → ${current}: set on the ${this.provider.kind} engine by another client, not by this controller; taken as the group's count`,
        inputs: {
          provider: this.provider.kind,
          min: this.#config.minInstances,
          max: this.#config.maxInstances,
        },
      },
      now,
    );
  }

  /** followEngine journals a count the engine's own autoscaler set, once the provider says why. */
  #followEngine(known: number, current: number, now: number): JournalEntry | undefined {
    const why = this.provider.explainScaling?.(known, current);
    if (why === undefined) return undefined;
    this.#known = current;
    return this.#journal.append(
      {
        group: this.name,
        source: 'provider',
        before: known,
        after: current,
        reasons: why.reasons,
        message: why.message,
        inputs: {
          provider: this.provider.kind,
          ...why.inputs,
          min: this.#config.minInstances,
          max: this.#config.maxInstances,
        },
      },
      now,
    );
  }

  /** policy is what the group is scaled by (groupPolicy of its config); undefined when scaled by hand. */
  get policy(): ScalingPolicy | undefined {
    return this.#policy;
  }

  /**
   * startup is the instance start-up the policy uses, ms, and where it comes from (`config`,
   * `learnt` or `default`), with how many start-ups were observed and their median.
   */
  get startup(): Startup & { observed: number; learnt?: number } {
    const learnt = medianStartup(this.#startupSamples);
    return {
      ...this.#startup,
      observed: this.#startupSamples.length,
      ...(learnt !== undefined && { learnt }),
    };
  }

  #chooseStartup(config: GroupConfig) {
    return chooseStartup({
      fallback: providerStartup(config),
      samples: this.#startupSamples,
      ...(config.scaling?.startup !== undefined && { configured: config.scaling.startup }),
      ...(this.#startup && { current: this.#startup }),
    });
  }

  /**
   * learnStartup measures start→ready of each instance this controller started that is newly ready,
   * and rebuilds the policy (its state kept) when the median moves the start-up in use enough
   * (policy/startup.ts). A move that changes the forecast horizon is journaled once (`StartupLearnt`).
   */
  #learnStartup(instances: readonly Instance[], now: number): void {
    const since = this.#since;
    if (since === undefined) return;
    let added = 0;
    for (const i of instances) {
      if (i.readyAt === undefined || this.#measured.has(i.id)) continue;
      this.#measured.add(i.id);
      // Kubernetes times are whole seconds: an instance created in the controller's first second counts.
      if (i.startedAt < since - 1_000) continue;
      this.#startupSamples = recordStartup(this.#startupSamples, i.readyAt - i.startedAt);
      added++;
    }
    // Ids of instances gone never come back: keep the set as small as the group.
    if (this.#measured.size > instances.length) {
      const present = new Set(instances.map((i) => i.id));
      for (const id of this.#measured) if (!present.has(id)) this.#measured.delete(id);
    }
    if (added === 0) return;
    const choice = this.#chooseStartup(this.#config);
    if (choice.reason !== 'StartupLearnt' || !choice.changed) return;
    const before = this.#policy?.predictive?.horizon;
    this.#startup = choice.startup;
    this.#policy = groupPolicy(this.#config, { interval: this.#interval, startup: this.#startup.ms });
    const horizon = this.#policy?.predictive?.horizon;
    const n = this.#startupSamples.length;
    const message = `start-up learnt: ${formatStartup(choice.startup.ms)}, median of ${n} instance${n === 1 ? '' : 's'}`;
    if (horizon === undefined || horizon === before) {
      // No forecast reads it (no preset, or an explicit predictive.horizon): status shows it, no more.
      this.#logger.info({ startup: choice.startup.ms, samples: n }, message);
      return;
    }
    const desired = this.provider.desired();
    this.#journal.append(
      {
        group: this.name,
        source: 'policy',
        before: desired,
        after: desired,
        reasons: [choice.reason],
        message: `${message}; forecast horizon ${formatStartup(horizon)}`,
        inputs: {
          startup: choice.startup.ms,
          samples: [...this.#startupSamples],
          horizon,
          ...(before !== undefined && { previousHorizon: before }),
          interval: this.#interval,
        },
      },
      now,
    );
  }

  /** lastDecision is the policy's most recent answer, for status output. */
  get lastDecision(): ScalingDecision | undefined {
    return this.#lastDecision;
  }

  /** predictiveBuckets is how many closed history buckets the predictive stage holds (0 without one). */
  get predictiveBuckets(): number {
    return this.#policyState.history?.length ?? 0;
  }

  async #restoreMemory(): Promise<void> {
    const spec = this.#policy?.predictive;
    if (!spec || !this.#memory) return;
    try {
      const { state, restored, startups } = restoreMemory(spec, this.#policyState, await this.#memory.load());
      this.#policyState = state;
      this.#savedBuckets = state.history?.length ?? -1;
      if (restored > 0) this.#logger.info({ buckets: restored }, 'predictive history restored');
      if (startups.length > 0) this.#restoreStartups(startups);
    } catch (err) {
      // An unreadable file costs the forecast its past, never the start.
      this.#logger.warn(
        { err, path: this.#memory.path },
        'predictive history unreadable; starting without it',
      );
    }
  }

  /** restoreStartups takes the start-ups measured before a restart, and the start-up they give. */
  #restoreStartups(startups: number[]): void {
    this.#startupSamples = startups;
    const choice = this.#chooseStartup(this.#config);
    if (!choice.changed) return;
    this.#startup = choice.startup;
    this.#policy = groupPolicy(this.#config, { interval: this.#interval, startup: this.#startup.ms });
    this.#logger.info(
      { startup: choice.startup.ms, samples: startups.length },
      `start-up restored: ${formatStartup(choice.startup.ms)} (${choice.startup.source}), median of ${startups.length} measured before the restart`,
    );
  }

  #saveMemory(): void {
    const spec = this.#policy?.predictive;
    const buckets = this.#policyState.history?.length ?? 0;
    if (!spec || !this.#memory) return;
    if (buckets === this.#savedBuckets && this.#savedStartups === this.#startupSamples) return;
    this.#savedBuckets = buckets;
    this.#savedStartups = this.#startupSamples;
    this.#memory.save(memoryOf(spec, this.#policyState, this.#startupSamples)).catch((err: unknown) => {
      this.#logger.warn({ err, path: this.#memory?.path }, 'predictive history not saved');
    });
  }

  /** flushMemory waits for the predictive history's last write (on close). */
  async flushMemory(): Promise<void> {
    await this.#memory?.close().catch(() => {});
  }

  /** desired is the count the group is converging to. */
  desired(): number {
    return this.provider.desired();
  }

  /**
   * start connects the provider (which may find instances already running: pods, EC2 instances,
   * adopted processes) and brings the group to its count: `restored` (a persisted desired count),
   * else what the engine already runs (within min/max), else initial_instances.
   */
  async start(now: number, restored?: number): Promise<void> {
    // Taking over again after a standby: the count known from before is the other leader's past.
    this.#known = undefined;
    await this.#restoreMemory();
    await this.provider.start?.();
    // What runs already was started by someone else, maybe long ago: its start-up is not measured.
    for (const i of this.provider.instances()) this.#measured.add(i.id);
    this.#since = this.#wallClock();
    const running = this.provider.desired();
    const restoredEntries = this.#journal.entries({ group: this.name, limit: 1000 });
    const start = startingCount(this.config, running, restored, {
      decided: newestCountDecision(restoredEntries),
      replacing: replacingInJournal(restoredEntries),
      rolling:
        planResizeResume(this.provider.instances(), this.provider.size?.()) !== undefined ||
        this.provider.resumedResize?.() !== undefined,
    });
    this.#journal.append(
      {
        group: this.name,
        source: 'startup',
        before: running,
        after: start.count,
        reasons: start.reasons,
        message: `${running} → ${start.count}: ${start.why}`,
        inputs: { min: this.config.minInstances, max: this.config.maxInstances },
      },
      now,
    );
    const initial = start.count;
    this.#policyState = recordManualChange(this.#policyState, initial, now);
    // A notice the previous controller journaled still holds (restored journal): not said twice.
    this.#lastNoticeKey = restoredNotice(this.#journal.entries({ group: this.name, limit: 1000 }));
    // Before the count: a scale-in to the restored count then takes outdated instances first.
    this.#resumeResize(initial, now);
    this.#followResumedRoll(initial, now);
    return this.#apply(initial, 'startup', now);
  }

  /**
   * resumeResize finishes a rolling resize that a restart or takeover cut. Before, the adopted
   * instances stayed a mix of old and new sizes for good, although the new size was persisted and
   * new instances got it. Instances not at the size in force are replaced by the provider's resize,
   * as in any resize (each only after its replacement is ready); journaled as `ResizeResumed`.
   */
  #resumeResize(desired: number, now: number): void {
    const resize = this.provider.resize?.bind(this.provider);
    const plan = resize && planResizeResume(this.provider.instances(), this.provider.size?.());
    if (!resize || !plan) return;
    const what = formatSize(plan.size);
    this.#journal.append(
      {
        group: this.name,
        source: 'startup',
        before: desired,
        after: desired,
        reasons: ['ResizeResumed'],
        message: `${plan.outdated.length} of ${plan.live} instance(s) (${plan.outdated.join(', ')}) not at the group's size ${what}: a rolling resize was cut by a restart; finishing it, one instance at a time`,
        inputs: { ...plan.size, outdated: [...plan.outdated] },
      },
      now,
    );
    const began = { now, at: performance.now() };
    resize(plan.size).then(
      () => this.#resizeEnded(undefined, 'startup', `resumed resize to ${what}`, began),
      (err: unknown) => this.#resizeEnded(err, 'startup', `resumed resize to ${what}`, began, plan.size),
    );
  }

  /**
   * followResumedRoll journals a resize of an earlier controller that the provider's start found
   * unfinished on the engine and finishes on its own (see Provider.resumedResize: a Kubernetes
   * StatefulSet's roll), as `ResizeResumed`, and its end as any resize's (see `#resizeEnded`).
   * Before, its failure reached only the provider's `error` event, which is logged: nothing in the
   * journal, no alert.
   */
  #followResumedRoll(desired: number, now: number): void {
    const roll = this.provider.resumedResize?.();
    if (!roll) return;
    this.#journal.append(
      {
        group: this.name,
        source: 'startup',
        before: desired,
        after: desired,
        reasons: ['ResizeResumed'],
        message: `a resize's roll was cut by a restart or failover (left half-done on the ${this.provider.kind} engine): finishing it`,
        inputs: { provider: this.provider.kind },
      },
      now,
    );
    const began = { now, at: performance.now() };
    roll.then(
      () => this.#resizeEnded(undefined, 'startup', 'resumed resize', began),
      (err: unknown) => this.#resizeEnded(err, 'startup', 'resumed resize', began),
    );
  }

  /**
   * resizeEnded journals how a resize ended: `ResizeFinished`, or `ResizeFailed` with the error's
   * code (which the `resize:<group>` alert fires on). A resize superseded by a later one, or left
   * for the next controller (CLOSED, FENCED), did not fail: it is only logged.
   */
  #resizeEnded(
    err: unknown,
    source: 'api' | 'startup',
    what: string,
    /** The resize's decision time, and performance.now() then: journaled that much (monotonic) time after it. */
    began: { now: number; at: number },
    size?: InstanceSize,
  ): void {
    const code = (err as { code?: unknown } | undefined)?.code;
    if (err !== undefined && (code === 'RESIZE_SUPERSEDED' || code === 'CLOSED' || code === 'FENCED')) {
      this.#logger.info(
        { group: this.name, size, code },
        code === 'RESIZE_SUPERSEDED'
          ? `${what} superseded by a later resize`
          : `${what} stopped (${String(code)}): left for the next controller`,
      );
      return;
    }
    if (err !== undefined) this.#logger.error({ err, group: this.name, size }, `${what} failed`);
    // A scale still being applied is the count wanted (and persisted from this entry): not the provider's yet.
    const desired = this.#pending?.desired ?? this.desired();
    const error = err instanceof Error ? err.message : String(err);
    this.#journal.append(
      {
        group: this.name,
        source,
        before: desired,
        after: desired,
        reasons: [err === undefined ? 'ResizeFinished' : 'ResizeFailed'],
        message: err === undefined ? `${what}: finished` : `${what} failed: ${error}`,
        inputs: {
          ...size,
          ...(err !== undefined && { error, ...(typeof code === 'string' && { code }) }),
        },
      },
      began.now + (performance.now() - began.at),
    );
  }

  /**
   * #publishAverages sets the CPU and memory gauges to the averages this decision used, and removes
   * those it had none for: a metric missing (no ready instance, every sample stale), or no longer
   * configured. Before, a gauge kept its last value: a group whose instances had all crashed read
   * the CPU they had before, and one whose memory target switched from percent to bytes kept both.
   */
  #publishAverages(proposals: readonly MetricProposal[], readings: readonly ObservedMetric[]): void {
    const average = (name: string) => proposals.find((p) => p.name === name)?.average ?? null;
    // The memory reading's unit follows its target's: bytes for `average_value`, else percent.
    const bytes = readings.find((r) => r.name === 'memory')?.kind === 'average';
    const memory = average('memory');
    const labels = { group: this.name };
    const publish = (gauge: ScaleplaneMetrics['groupCpu'], value: number | null) =>
      value === null ? gauge.remove(labels) : gauge.set(labels, value);
    publish(this.#metrics.groupCpu, average('cpu'));
    publish(this.#metrics.groupMemoryBytes, bytes ? memory : null);
    publish(this.#metrics.groupMemoryPercent, bytes ? null : memory);
  }

  /**
   * retryDeferred asks the provider again for a change it deferred (see `#deferred`), unless a call
   * of ours runs. The control loop calls it on each tick, before the policy decides (whose own change
   * replaces it). Only the outcome is journaled: `DeferredScaleRetried` once the change is made, or
   * `ScaleDeferred` again (a repeat: its entry's `count` rises) while the provider still defers it.
   * Before, each tick journaled the retry up front and then its `ScaleDeferred`: two appends per
   * tick (two log lines, two state store writes, the persisted count flipping to the asked count and
   * back) for as long as the provider deferred it. Returns whether it asked.
   */
  retryDeferred(now: number): boolean {
    const deferred = this.#deferred;
    if (deferred === undefined || this.#pending !== undefined) return false;
    const before = this.provider.desired();
    if (before === deferred.desired) {
      this.#deferred = undefined;
      return false;
    }
    const made = (at: number) =>
      this.#journal.append(
        {
          group: this.name,
          source: deferred.source,
          before,
          after: deferred.desired,
          reasons: ['DeferredScaleRetried'],
          message: `${before} → ${deferred.desired}: the ${deferred.source === 'api' ? 'manual scale' : `${deferred.source}'s count`} the provider deferred, asked again and made`,
          inputs: { wanted: deferred.desired },
        },
        at,
      );
    void this.#apply(deferred.desired, deferred.source, now, made);
    return true;
  }

  /**
   * evaluate runs one policy decision and applies it. Returns the journal entry when the desired
   * count changed (or a limit started to bite), undefined otherwise.
   */
  evaluate(
    now: number,
    /** Most this group may grow to under `limits.max_instances_total`; the policy is clamped to it. */
    cap = Number.POSITIVE_INFINITY,
  ): JournalEntry | undefined {
    // `mode: hpa`: the engine runs the loop, Scaleplane only watches.
    if ((this.provider as { autoscaled?: boolean }).autoscaled) return undefined;
    if (!this.#policy) {
      this.#publishAverages([], []); // a reload took `scaling` away: no average is used any more
      return undefined;
    }
    const instances = this.provider.instances();
    this.#learnStartup(instances, now);
    const policy = this.#policy;
    const current = this.provider.desired();
    const ready = instances.filter((i) => i.state === 'ready').length;
    const starting = instances.filter((i) => i.state === 'starting').length;
    const readings = this.#readMetrics(instances, now).map((r) =>
      r.unready === undefined && r.kind !== 'total' ? { ...r, unready: starting } : r,
    );
    // A reading's `error` is not logged here: its source reports a failure once per streak (see
    // PolledMetric's onError), and a value not there *yet* (latency with no request completed since
    // the last read) is no failure at all. Logged here, each was a warning on every tick.
    const samples = this.#takeSamples?.() ?? [];
    const decided = decide({ current, ready, metrics: readings, samples }, policy, this.#policyState, now);
    // No tick samples: decide derived one from these readings, the largest over the metrics read.
    // With one missing that understates the load (why GroupReadings skips such a tick), so the
    // panic window and the forecast keep what they had: a metric missing for good must not slip
    // back in here, one understated sample per decision instead of one per tick.
    this.#policyState =
      samples.length === 0 && (readings.some(isMissingMetric) || this.#samplesComplete())
        ? withoutLoadObserved(decided.nextState, observe(policy, this.#policyState, [], now))
        : decided.nextState;
    this.#saveMemory();
    const decision = capToTotal(decided, current, cap);
    this.#lastDecision = decision;
    const stage = (name: string) => decision.stages.find((s) => s.stage === name)?.desired;
    // HPA's names: the largest metric proposal, then what the stabilization windows made of it.
    const prenormalized = stage('reactive') ?? current;
    const predicted = stage('predicted');
    const stabilized = stage('stabilized') ?? predicted ?? prenormalized;
    this.#publishAverages(decision.proposals, readings);

    const inputs = {
      ready,
      // A proposal is its reading's, index for index: by name, a group's second metric of a type
      // (two `prometheus` queries) showed the first one's sample count.
      metrics: decision.proposals.map((p, index) => ({
        name: p.name,
        average: p.average,
        target: p.target,
        samples: readings[index]?.values.length ?? 0,
        proposal: p.proposal,
      })),
      prenormalized,
      ...(predicted !== undefined && { predicted }),
      stabilized,
      stages: decision.stages,
    };
    if (decision.desired === current) {
      // Say once when a limit holds the group back (e.g. wanted 8, capped at max 5), and once when
      // it no longer does: the blocked-at-max alert resolves on that second entry.
      const notice = judgeNotice(this.#lastNoticeKey, { reasons: decision.reasons, prenormalized, current });
      this.#lastNoticeKey = notice.key;
      if (notice.journal === undefined) return undefined;
      return this.#journal.append(
        {
          group: this.name,
          source: 'policy',
          before: current,
          after: current,
          reasons: decision.reasons,
          message:
            notice.journal === 'held'
              ? decision.message
              : `no limit holds the group back any more: ${decision.message}`,
          inputs,
        },
        now,
      );
    }
    const pending = this.#pending;
    if (pending?.desired === decision.desired && now - pending.since < PENDING_REISSUE_MS) {
      // The provider has not yet taken the same change asked for earlier (its call still runs, e.g. an
      // API that does not answer): asking again would journal the same decision every tick and pile
      // up calls. It is asked again once that call ends, or after PENDING_REISSUE_MS.
      if (!pending.noted) {
        pending.noted = true;
        this.#logger.warn(
          { group: this.name, desired: decision.desired, current, pendingMs: now - pending.since },
          `scale to ${decision.desired} still in progress at the provider (desired ${current}); not asked again`,
        );
      }
      return undefined;
    }
    this.#lastNoticeKey = '';
    const entry = this.#journal.append(
      {
        group: this.name,
        source: 'policy',
        before: current,
        after: decision.desired,
        reasons: decision.reasons,
        message: decision.message,
        inputs,
      },
      now,
    );
    void this.#apply(decision.desired, 'policy', now);
    return entry;
  }

  /**
   * scale applies a manual action within [min, max]. Out of range throws OutOfRangeError and
   * changes nothing. The new count enters the policy history, so the autoscaler starts from it
   * and scale-down stabilization holds it for its window.
   */
  scale(
    action: ManualAction,
    instances: number,
    now: number,
    /** Who asked: the API token's name, never the token. */
    by = 'api',
  ): { previous: number; desired: number } {
    const previous = this.provider.desired();
    const desired = manualTarget(action, previous, instances);
    if (desired < this.config.minInstances || desired > this.config.maxInstances) {
      const step =
        action === 'set' ? undefined : { previous, by: action === 'scale-out' ? instances : -instances };
      throw new OutOfRangeError(this.name, desired, this.config.minInstances, this.config.maxInstances, step);
    }
    this.#policyState = recordManualChange(this.#policyState, desired, now);
    const asked = `${action}${action === 'set' ? '' : ` ${instances}`} by ${by} through the control API`;
    // A request for the count the group already has is journaled (who asked, and the autoscaler
    // holds that count as any manual one), but not as a scaling: before, `scale web 2` at 2 read
    // `2 → 2: set by ops …  [ManualScale]`, a change to anyone scanning the journal for scalings.
    const unchanged = desired === previous;
    this.#journal.append(
      {
        group: this.name,
        source: 'api',
        before: previous,
        after: desired,
        reasons: [unchanged ? 'ManualScaleUnchanged' : 'ManualScale'],
        message: unchanged
          ? `${asked}: already ${desired}, nothing changed`
          : `${previous} → ${desired}: ${asked}`,
        inputs: { action, instances, by },
      },
      now,
    );
    void this.#apply(desired, 'api', now);
    return { previous, desired };
  }

  /**
   * resize asks the provider for a rolling resize of every instance (see Provider.resize) and
   * journals it. Arguments are checked at once (ProviderError INVALID_ARGUMENT / UNSUPPORTED are
   * thrown); the rolling replacement itself runs on and its failure is logged. `sizeStored`, when
   * the provider makes the size outlive this controller with one write (`savesSize`: the state
   * store's, or the engine's named by `sizeWrite`), is that write (or the resize's failure before
   * it made one, e.g. FENCED).
   */
  resize(
    size: InstanceSize,
    now: number,
    by = 'api',
  ): {
    desired: number;
    done: Promise<void>;
    sizeStored?: () => Promise<void>;
    sizeWrite?: string;
    notKept?: string;
  } {
    if (!this.provider.resize) {
      throw Object.assign(new Error(`the ${this.provider.kind} provider cannot resize`), {
        code: 'UNSUPPORTED',
      });
    }
    validateSize(size);
    const desired = this.provider.desired();
    const what = formatSize(size);
    // Nothing outlives this process with the size (no state store, no engine that keeps it): a
    // restart starts the instances at the config's size again. Said, not silent: before, the 202
    // and the journal read the same with or without a state store.
    const notKept = this.provider.savesSize
      ? undefined
      : `not kept across a restart: without controller.state, a restarted Scaleplane starts the instances of ${this.name} with groups.${this.name}.resources again (put the size there, or configure controller.state, to keep it)`;
    if (notKept !== undefined) this.#logger.warn({ group: this.name, size }, `resize to ${what}: ${notKept}`);
    this.#journal.append(
      {
        group: this.name,
        source: 'api',
        before: desired,
        after: desired,
        reasons: ['ManualResize'],
        message: `resize to ${what} by ${by} through the control API: rolling, one instance at a time${notKept === undefined ? '' : `; ${notKept}`}`,
        inputs: { ...size, by },
      },
      now,
    );
    let onSizeSaved: ((write: Promise<void>) => void) | undefined;
    const saved = new Promise<void>((resolve, reject) => {
      onSizeSaved = (write) => write.then(resolve, reject);
    });
    const began = { now, at: performance.now() };
    const done = this.provider.resize(size, { onSizeSaved }).then(
      () => this.#resizeEnded(undefined, 'api', `resize to ${what}`, began),
      (err: unknown) => {
        this.#resizeEnded(err, 'api', `resize to ${what}`, began, size);
        throw err;
      },
    );
    done.catch(() => {});
    if (!this.provider.savesSize) return { desired, done, ...(notKept !== undefined && { notKept }) };
    // A resize that ended before it saved the size (refused by the fence, closed) never saves it.
    const sizeStored = Promise.race([saved, done]);
    sizeStored.catch(() => {});
    const sizeWrite = this.provider.sizeWrite;
    return { desired, done, sizeStored: () => sizeStored, ...(sizeWrite !== undefined && { sizeWrite }) };
  }

  async #apply(
    desired: number,
    source: 'policy' | 'api' | 'startup' | 'reload',
    /** The decision's time: the failure is journaled that much (monotonic) time after it. */
    now: number,
    /**
     * Journals the change once the provider made it, at the time given (a retry, whose request
     * was not journaled before the call: see retryDeferred); nothing else is journaled on success.
     */
    onMade?: (at: number) => void,
  ): Promise<void> {
    const began = performance.now();
    const pending = { desired, since: now, noted: false };
    this.#pending = pending;
    // A newer change replaces one still deferred.
    this.#deferred = undefined;
    const previous = this.provider.desired();
    if (desired !== previous) {
      this.#metrics.scalingDecisions.inc({
        group: this.name,
        direction: desired > previous ? 'out' : 'in',
        source,
      });
    }
    this.#metrics.desiredInstances.set({ group: this.name }, desired);
    // Only the latest call says what the provider's count is (an earlier one it superseded ends too).
    const latest = () => this.#pending === pending;
    try {
      await this.provider.scaleTo(desired);
      // What we asked for, even when the provider took another client's count meanwhile (AWS
      // resolves a waiting scaleTo then): followProvider journals that difference.
      const wasLatest = latest();
      if (wasLatest) this.#known = desired;
      if (wasLatest) this.#pending = undefined;
      // Not once a newer change replaced it: that one's entry (and persisted count) stands.
      if (wasLatest) onMade?.(now + (performance.now() - began));
    } catch (err) {
      const wasLatest = latest();
      if (wasLatest) this.#known = this.provider.desired();
      if (wasLatest) this.#pending = undefined;
      // Refused while another operation of the group runs (BusyError: an AWS scaling activity in
      // progress): "try again later", nothing changed, not a failure. The policy's next decision
      // asks again.
      const deferred = isDeferral(err);
      if (deferred && source !== 'policy' && wasLatest) this.#deferred = { desired, source };
      if (deferred) this.#logger.warn({ err, group: this.name, desired }, 'scaling deferred');
      else this.#logger.error({ err, group: this.name, desired }, 'scaling failed');
      // The entry that asked for `desired` is already journaled (and persisted as the group's count):
      // say that it did not happen, and what the provider's count is, so neither the journal nor the
      // state store keeps a change that was never made. The next decision starts from that count.
      const actual = this.provider.desired();
      const error = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: unknown }).code;
      this.#journal.append(
        {
          group: this.name,
          source,
          before: desired,
          after: actual,
          reasons: [deferred ? 'ScaleDeferred' : 'ScaleFailed'],
          message: deferred
            ? `scale to ${desired} deferred: ${error}; the provider's desired count is ${actual}, and ${source === 'policy' ? 'the next decision' : 'the next tick of the control loop'} asks again`
            : `scale to ${desired} failed: ${error}; the provider's desired count is ${actual}`,
          inputs: { wanted: desired, error, ...(typeof code === 'string' && { code }) },
        },
        now + (performance.now() - began),
      );
    }
  }
}

/**
 * isDeferral says a scale was refused because another operation of the group runs (a BUSY
 * ProviderError naming that `operation`, i.e. BusyError): nothing was made, and the same scale may
 * go through once it ends. A BUSY without one (another client's count met) is a failure as before.
 */
function isDeferral(err: unknown): boolean {
  const busy = err as { code?: unknown; operation?: unknown } | undefined;
  return busy?.code === 'BUSY' && typeof busy.operation === 'string';
}

/** StartEvidence is what a start knows beside the counts, to judge a restored count below what runs. */
export interface StartEvidence {
  /** The newest journaled decision that set the group's count, restored with it (see newestCountDecision). */
  decided?: Pick<JournalEntry, 'before' | 'after'>;
  /** A cut rolling resize is resumed: what runs then includes replacements started beside the instances they replace. */
  rolling?: boolean;
  /**
   * The restored journal shows an unhealthy instance's replacement begun and not ended (see
   * replacingInJournal): its replacement may run beside it, one instance more than the count.
   */
  replacing?: boolean;
}

/**
 * startingCount is the count a group starts at, and why: `restored` (a persisted desired count),
 * else what already `running` (adopted), else initial_instances; a restored or adopted count outside
 * [min, max] is brought inside, and the journal says which bound did it (`TooFewReplicas`,
 * `TooManyReplicas`, as HPA names them). Before, a count raised to min_instances was journaled as
 * `1 → 3: restored desired count`, naming no bound.
 *
 * A restored count below what runs is taken only when the restored journal explains the difference:
 * its newest count decision lowered the group to that count from at least what runs (a scale-in the
 * previous leader decided and did not finish), or a cut rolling resize is resumed (its replacements
 * run beside the instances they replace), or an unhealthy instance's replacement was under way (one
 * more). Otherwise the store is behind what runs — a Redis failed
 * over to a replica that lacked the latest writes, a restored backup: it lost a scale-out — and the
 * group adopts what runs (`RestoredBelowRunning`); a scale-in is then the policy's to decide. Before,
 * a new leader scaled in the instances its predecessor had just started, running and serving. Pure.
 */
export function startingCount(
  config: Pick<GroupConfig, 'minInstances' | 'maxInstances' | 'initialInstances'>,
  running: number,
  restored: number | undefined,
  evidence: StartEvidence = {},
): { count: number; reasons: string[]; why: string } {
  if (restored === undefined && running === 0)
    return { count: config.initialInstances, reasons: ['InitialInstances'], why: 'initial_instances' };
  const { decided, rolling } = evidence;
  const surge = evidence.replacing === true ? 1 : 0;
  const explained =
    rolling === true ||
    (restored !== undefined && running <= restored + surge) ||
    (decided !== undefined && decided.after === restored && decided.before + surge >= running);
  const stale = restored !== undefined && restored < running && !explained;
  const [reasons, what] =
    restored === undefined
      ? [['Adopted'], 'adopted what runs']
      : stale
        ? [
            ['Adopted', 'RestoredBelowRunning'],
            `restored desired count ${restored} is below the ${running} running and no restored decision lowered it ` +
              '(the state store is behind: a failover to a replica that lacked the latest writes); adopted what runs',
          ]
        : [['Restored'], 'restored desired count'];
  const wanted = restored === undefined || stale ? running : restored;
  if (wanted < config.minInstances)
    return {
      count: config.minInstances,
      reasons: [...reasons, 'TooFewReplicas'],
      why: `${what} ${wanted}, raised to min_instances ${config.minInstances}`,
    };
  if (wanted > config.maxInstances)
    return {
      count: config.maxInstances,
      reasons: [...reasons, 'TooManyReplicas'],
      why: `${what} ${wanted}, lowered to max_instances ${config.maxInstances}`,
    };
  return { count: wanted, reasons, why: what };
}

/**
 * replacingInJournal is true when the newest replacement entry of `entries` (oldest first) is a
 * replacement's start (`ReplaceUnhealthy`), not its end (`Replaced`, `ReplaceFailed`). Pure.
 */
export function replacingInJournal(entries: readonly JournalEntry[]): boolean {
  for (let i = entries.length - 1; i >= 0; i--) {
    const { source, reasons } = entries[i]!;
    if (source !== 'health') continue;
    if (reasons.includes('ReplaceUnhealthy')) return true;
    if (reasons.includes('Replaced') || reasons.includes('ReplaceFailed')) return false;
  }
  return false;
}

/**
 * newestCountDecision is the newest of `entries` (oldest first) that set a group's count (see
 * DESIRED_SOURCES), or undefined. Pure.
 */
export function newestCountDecision(entries: readonly JournalEntry[]): JournalEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    if (DESIRED_SOURCES.has(entry.source)) return entry;
  }
  return undefined;
}

/** manualTarget is the desired count a manual action asks for, before any bound is checked. */
export function manualTarget(action: ManualAction, previous: number, instances: number): number {
  return action === 'set' ? instances : action === 'scale-out' ? previous + instances : previous - instances;
}

/**
 * capToTotal clamps a scale-out to `cap` (what `limits.max_instances_total` leaves this group),
 * adding the reason `TotalInstancesLimit`. It never scales in to meet the cap: a group already above
 * it (after a lower limit was loaded) only stops growing.
 */
export function capToTotal(decision: ScalingDecision, current: number, cap: number): ScalingDecision {
  if (decision.desired <= current || decision.desired <= cap) return decision;
  const capped = Math.max(current, cap);
  return {
    ...decision,
    desired: capped,
    reasons: [...decision.reasons, 'TotalInstancesLimit'],
    message: `${decision.message}; held at ${capped} by limits.max_instances_total`,
  };
}

/**
 * withoutLoadObserved is the decision's next state with the load memory (panic window, forecast
 * history, open bucket, forecaster) taken from `unobserved`, the state as it was with no sample
 * folded in (its panic window still cut to length). The rest (recommendations, events, panic
 * start) is the decision's.
 */
function withoutLoadObserved(next: ScalingState, unobserved: ScalingState): ScalingState {
  const { recent: _recent, history: _history, openBucket: _open, forecaster: _forecaster, ...rest } = next;
  const { recent, history, openBucket, forecaster } = unobserved;
  return {
    ...rest,
    recent,
    ...(history && { history }),
    ...(openBucket && { openBucket }),
    ...(forecaster && { forecaster }),
  };
}
