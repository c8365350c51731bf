/**
 * How long a group's instances take from start to ready, the start-up of a preset's forecast
 * horizon (start-up + decision interval). Pure: the group controller hands in the durations it saw
 * and the start-up in use, and gets back the one to use and why.
 *
 * 1. `scaling.startup` set: that, full stop (`StartupConfigured`).
 * 2. Nothing observed yet: the provider's fallback — an AWS group's `instance_warmup`, else
 *    DEFAULT_STARTUP (`StartupDefault`).
 * 3. Else the median of the last STARTUP_SAMPLES start→ready durations, once it is at least
 *    STARTUP_MIN_CHANGE of the start-up in use and STARTUP_MIN_CHANGE_MS away from it
 *    (`StartupLearnt`); closer, the one in use stays (`StartupHeld`), so jitter rebuilds nothing.
 */

/** STARTUP_SAMPLES is how many recent start→ready durations the learnt start-up is the median of. */
export const STARTUP_SAMPLES = 9;

/** STARTUP_MIN_CHANGE is the least relative move of the median (to the start-up in use) that is taken. */
export const STARTUP_MIN_CHANGE = 0.25;

/** STARTUP_MIN_CHANGE_MS is the least absolute move of the median that is taken, ms. */
export const STARTUP_MIN_CHANGE_MS = 2_000;

/** StartupSource says where the start-up in use comes from. */
export type StartupSource = 'config' | 'learnt' | 'default';

/** Startup is a start-up time in use, ms, and where it comes from. */
export interface Startup {
  ms: number;
  source: StartupSource;
}

/** StartupReason is the stable token of a chooseStartup answer. */
export type StartupReason = 'StartupConfigured' | 'StartupDefault' | 'StartupLearnt' | 'StartupHeld';

/** StartupChoice is chooseStartup's answer. */
export interface StartupChoice {
  startup: Startup;
  reason: StartupReason;
  /** The median of the samples, when there are any (also when it is not taken). */
  learnt?: number;
  /** True when `startup` differs from the `current` passed in (or none was). */
  changed: boolean;
}

/** StartupInput is what chooseStartup decides from (all ms). */
export interface StartupInput {
  /** `scaling.startup`, when the config sets it. */
  configured?: number;
  /** What applies until something is observed: AWS `instance_warmup`, else DEFAULT_STARTUP. */
  fallback: number;
  /** Start→ready durations of instances this controller started, oldest first (recordStartup). */
  samples: readonly number[];
  /** The start-up in use now, if any. */
  current?: Startup;
}

/** recordStartup appends one start→ready duration, keeping the last `keep`. A negative one (clock skew) is dropped. */
export function recordStartup(samples: readonly number[], ms: number, keep = STARTUP_SAMPLES): number[] {
  if (!Number.isFinite(ms) || ms < 0) return [...samples];
  return [...samples, ms].slice(-keep);
}

/** medianStartup is the median of the samples, whole ms; undefined without any. */
export function medianStartup(samples: readonly number[]): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/**
 * startupMoved says whether `learnt` is far enough from `inUse` to be taken: by at least
 * STARTUP_MIN_CHANGE of `inUse` and STARTUP_MIN_CHANGE_MS, both (boundaries included).
 */
export function startupMoved(inUse: number, learnt: number): boolean {
  const delta = Math.abs(learnt - inUse);
  return delta >= STARTUP_MIN_CHANGE_MS && delta >= STARTUP_MIN_CHANGE * inUse;
}

/** chooseStartup is the start-up to use (see the module comment for the rule). */
export function chooseStartup(input: StartupInput): StartupChoice {
  const { configured, fallback, samples, current } = input;
  const learnt = medianStartup(samples);
  const answer = (startup: Startup, reason: StartupReason): StartupChoice => ({
    startup,
    reason,
    ...(learnt !== undefined && { learnt }),
    changed: current === undefined || current.ms !== startup.ms || current.source !== startup.source,
  });
  if (configured !== undefined) return answer({ ms: configured, source: 'config' }, 'StartupConfigured');
  // A learnt start-up stays the reference; a configured one that went away falls back first.
  const base: Startup = current?.source === 'learnt' ? current : { ms: fallback, source: 'default' };
  if (learnt === undefined) return answer(base, 'StartupDefault');
  if (startupMoved(base.ms, learnt)) return answer({ ms: learnt, source: 'learnt' }, 'StartupLearnt');
  return answer(base, 'StartupHeld');
}

/** formatStartup renders a duration for people: `1.6 s` below ten seconds, else whole seconds (`34 s`). */
export function formatStartup(ms: number): string {
  return ms < 10_000 ? `${Number((ms / 1000).toFixed(1))} s` : `${Math.round(ms / 1000)} s`;
}
