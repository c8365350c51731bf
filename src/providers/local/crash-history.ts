/**
 * CrashMark is one failed start or crash the local provider remembers: when, and the resize
 * generation of the instance (see Slot.generation), so a failed resize can tell its own crashes
 * from the group's.
 */
export interface CrashMark {
  readonly at: number;
  readonly generation: number;
}

/** CrashHistory is what the backoff and the crash-loop pause go by. */
export interface CrashHistory {
  /** Crashes in a row (none stayed ready `resetAfterMs` in between): each doubles the backoff. */
  readonly streak: readonly CrashMark[];
  /** Crashes within the crash-loop window (older ones drop out at the next crash). */
  readonly window: readonly CrashMark[];
  /** Generation of the crash that began the crash-loop pause in force; undefined when not paused. */
  readonly pausedBy: number | undefined;
}

/** BackoffShape is the part of RestartBackoff the delay is computed from. */
export interface BackoffShape {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** backoffBase is the delay before the next start after `streak` crashes in a row (doubling, capped). */
export function backoffBase(streak: number, backoff: BackoffShape): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** (streak - 1));
}

/**
 * backoffUntil is when the next start may come after the last crash of `streak`, with equal
 * jitter (`jitter` in [0, 1)): between half and all of the base. 0 after no crash.
 */
export function backoffUntil(streak: readonly CrashMark[], backoff: BackoffShape, jitter: number): number {
  const last = streak.at(-1);
  if (last === undefined) return 0;
  const base = backoffBase(streak.length, backoff);
  return last.at + base / 2 + (base / 2) * jitter;
}

/**
 * streakWith is the streak after a crash at `now`: it starts over (the crash alone) when the
 * crashed instance had stayed ready `resetAfterMs`, or when the crash comes so long after the last
 * one that a start could have passed its backoff, its start timeout and `resetAfterMs` since (a
 * calm period, as the kubelet forgets a container's backoff). Before, only the first ended a row:
 * after an outage (6 crashes, the backoff at 32 s) and an hour of calm, the next failed start of
 * another instance was the 7th in a row, its replacement held off 32-64 s. Pure.
 */
export function streakWith(
  streak: readonly CrashMark[],
  crash: CrashMark,
  at: { readySince: number | undefined; resetAfterMs: number; startTimeoutMs: number; backoff: BackoffShape },
): CrashMark[] {
  if (at.readySince !== undefined && crash.at - at.readySince >= at.resetAfterMs) return [crash];
  const last = streak.at(-1);
  if (last !== undefined) {
    const calmAfter = backoffBase(streak.length, at.backoff) + at.startTimeoutMs + at.resetAfterMs;
    if (crash.at - last.at >= calmAfter) return [crash];
  }
  return [...streak, crash];
}

/** RolledBack is the crash state after a failed resize forgot its own crashes. */
export interface RolledBack {
  readonly history: CrashHistory;
  /** When the next start may come (0: at once). */
  readonly backoffUntil: number;
  /** The pause in force was the failed resize's doing: it ends. */
  readonly endPause: boolean;
}

/**
 * forgetRoll drops the crashes of the failed resize's generation (its new instances at the size
 * that did not work), keeping the group's own: a group crash-looping at its old size stays paused
 * and backed off, as a pod's CrashLoopBackOff outlives a rollback of its Deployment. Before, a failed
 * resize forgot every crash, so a group that crash-looped before it (or during it, at its old size)
 * restarted at once, its backoff back at the start. The pause ends only when the failed resize's
 * crashes began it and the group's own within the window stay within `limit`. Pure.
 */
export function forgetRoll(
  history: CrashHistory,
  generation: number,
  at: { now: number; windowMs: number; limit: number; backoff: BackoffShape; jitter: number },
): RolledBack {
  const streak = history.streak.filter((c) => c.generation !== generation);
  const window = history.window.filter((c) => c.generation !== generation && at.now - c.at < at.windowMs);
  const endPause =
    history.pausedBy !== undefined && history.pausedBy === generation && window.length <= at.limit;
  return {
    history: { streak, window, pausedBy: endPause ? undefined : history.pausedBy },
    backoffUntil: backoffUntil(streak, at.backoff, at.jitter),
    endPause,
  };
}
