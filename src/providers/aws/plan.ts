import type { InstanceState } from '../types.js';

/** AsgInstanceView is what the pure decisions need of one Auto Scaling group member. */
export interface AsgInstanceView {
  id: string;
  lifecycleState: string;
  healthStatus: string;
  /**
   * Epoch ms since when it is InService, if it is: when this process saw it come InService, or, for
   * one already InService when first seen, what the group's scaling activities say (`entryTimes`).
   */
  inServiceSince?: number;
}

/**
 * asgState maps an Auto Scaling lifecycle state to an instance state; InService counts as ready
 * only once the instance warm-up has passed since it came InService (`inServiceSince`).
 */
export function asgState(view: AsgInstanceView, warmupMs: number, now: number): InstanceState {
  const s = view.lifecycleState;
  if (view.healthStatus === 'Unhealthy') return 'failed';
  if (s.startsWith('Terminat') || s.startsWith('Detach') || s === 'Warmed:Terminated') return 'stopping';
  if (s.startsWith('Standby') || s.startsWith('EnteringStandby')) return 'draining';
  if (s === 'InService') {
    return view.inServiceSince !== undefined && now - view.inServiceSince >= warmupMs ? 'ready' : 'starting';
  }
  return 'starting';
}

/**
 * refreshMinHealthyPercentage is the instance refresh floor that keeps at least `min` of `desired`
 * instances in service: the configured percentage, raised to ceil(100 × min / desired), at most 100.
 */
export function refreshMinHealthyPercentage(configured: number, min: number, desired: number): number {
  if (desired <= 0) return Math.min(100, Math.max(0, configured));
  return Math.min(100, Math.max(configured, Math.ceil((100 * min) / desired)));
}

/**
 * refreshMaxHealthyPercentage lets an instance refresh launch one replacement before it
 * terminates an old instance when the floor is 100% (AWS allows 100..200).
 */
export function refreshMaxHealthyPercentage(minHealthy: number, desired: number): number {
  if (minHealthy < 100 || desired <= 0) return 100;
  return Math.min(200, 100 + Math.ceil(100 / desired));
}

/** AwsReplacementPlan is the decision to resize one instance in place, or why not. */
export type AwsReplacementPlan =
  | { ok: true; instanceId: string; reason: 'SpareCapacity' }
  | { ok: false; reason: 'NoSpareCapacity' | 'NothingToResize'; message: string };

/**
 * planStopStart picks the next instance to resize in place (stop → ModifyInstanceAttribute →
 * start): only while the others in service still number at least `min`, one at a time.
 */
export function planStopStart(
  inService: readonly { id: string; instanceType: string }[],
  targetType: string,
  min: number,
): AwsReplacementPlan {
  const outdated = inService.filter((i) => i.instanceType !== targetType);
  if (outdated.length === 0)
    return { ok: false, reason: 'NothingToResize', message: 'every instance has the type' };
  if (inService.length - 1 < min)
    return {
      ok: false,
      reason: 'NoSpareCapacity',
      message: `stopping one of ${inService.length} in service would leave fewer than min_instances (${min})`,
    };
  return { ok: true, instanceId: outdated[0]!.id, reason: 'SpareCapacity' };
}

/**
 * withinHealthCheckGrace says whether an instance is still inside its group's health check grace
 * period (`HealthCheckGracePeriod`), counted from when it came into service (or launched, if it
 * never did): Auto Scaling does not act on an Unhealthy mark sent with ShouldRespectGracePeriod then.
 */
export function withinHealthCheckGrace(since: number, gracePeriodMs: number, now: number): boolean {
  return gracePeriodMs > 0 && now - since < gracePeriodMs;
}

/** ScalingActivityView is what the pure decisions need of one Auto Scaling scaling activity. */
export interface ScalingActivityView {
  /** e.g. `Launching a new EC2 instance: i-0abc…`. */
  description: string;
  /** `Successful` once done; `InProgress`, `MidLifecycleAction`, `WaitingForInstanceWarmup`, … before. */
  statusCode: string;
  /** Epoch ms. */
  startTime: number;
  /** Epoch ms, once the activity ended. */
  endTime?: number;
}

/** FreshInstance is an instance first seen already InService, with its EC2 LaunchTime (epoch ms). */
export interface FreshInstance {
  id: string;
  launchTime: number;
}

/**
 * ACTIVITY_LEAD_MS is how long before an instance's EC2 LaunchTime its launch activity may have
 * started (the activity starts, then the instance is run; longer for a Spot request): a search
 * must reach this far before the LaunchTime to be sure it would have seen that activity.
 */
export const ACTIVITY_LEAD_MS = 10 * 60_000;

// The activities that put an instance into service, as Auto Scaling words them: a launch
// (`Launching a new EC2 instance: i-…`; not one into a warm pool, which does not serve), an
// AttachInstances, an ExitStandby.
const ENTRY =
  /^(?:Launching a new EC2 instance(?! into warm pool)[^:]*|Attaching an existing EC2 instance|Moving EC2 instance out of Standby): (i-[0-9a-f]+)\b/;

/**
 * serviceEntryInstance is the id of the instance a scaling activity puts into service (a launch,
 * an attach, a return from Standby), or undefined for any other activity.
 */
export function serviceEntryInstance(description: string): string | undefined {
  return ENTRY.exec(description)?.[1];
}

/**
 * activitySearchDone says whether DescribeScalingActivities pages read so far (newest first, at
 * most `maxPages`) settle every fresh instance: each has an entry activity among them (the newest,
 * the one that counts), or the pages reach `ACTIVITY_LEAD_MS` before its LaunchTime, so none
 * exists within the six weeks AWS keeps. `oldestStart` is the oldest StartTime read (epoch ms).
 */
export function activitySearchDone(
  fresh: readonly FreshInstance[],
  activities: readonly ScalingActivityView[],
  oldestStart: number,
  pages: number,
  maxPages: number,
  more: boolean,
): boolean {
  if (!more || pages >= maxPages) return true;
  const found = new Set(activities.map((a) => serviceEntryInstance(a.description)));
  return fresh.every((i) => found.has(i.id) || oldestStart < i.launchTime - ACTIVITY_LEAD_MS);
}

/** EntryReason says where an instance's `inServiceSince` came from. */
export type EntryReason =
  /** Its newest entry activity is Successful: since its EndTime (not before its LaunchTime). */
  | 'ActivityEnded'
  /** Its entry activity has not ended (e.g. `WaitingForInstanceWarmup`, `MidLifecycleAction`): now. */
  | 'ActivityNotDone'
  /** None in the activities AWS keeps (six weeks), read back past its launch: since its LaunchTime. */
  | 'NoActivity'
  /** None in the pages read, which stopped before its launch: now, as if it had just come InService. */
  | 'SearchBounded';

/** EntryTime is since when a fresh instance counts as InService, and why. */
export interface EntryTime {
  since: number;
  reason: EntryReason;
}

/**
 * entryTimes says since when each instance first seen already InService has been in service,
 * from the group's scaling activities: the EndTime of its newest entry activity (launch, attach,
 * return from Standby) if that is Successful; now if it has not ended (still warming, as for one
 * seen coming InService); its EC2 LaunchTime if there is none and `oldestStart` (the oldest
 * StartTime read; -Infinity when every page was read) reaches past its launch — it was launched
 * longer ago than AWS keeps activities; now if the search stopped before that. Never before the
 * LaunchTime: an instance stopped and started since serves only from then.
 */
export function entryTimes(
  fresh: readonly FreshInstance[],
  activities: readonly ScalingActivityView[],
  oldestStart: number,
  now: number,
): Map<string, EntryTime> {
  const newest = new Map<string, ScalingActivityView>();
  for (const a of activities) {
    const id = serviceEntryInstance(a.description);
    if (id === undefined) continue;
    const seen = newest.get(id);
    if (!seen || a.startTime > seen.startTime) newest.set(id, a);
  }
  const out = new Map<string, EntryTime>();
  for (const i of fresh) {
    const a = newest.get(i.id);
    if (a) {
      out.set(
        i.id,
        a.statusCode === 'Successful' && a.endTime !== undefined
          ? { since: Math.min(now, Math.max(a.endTime, i.launchTime)), reason: 'ActivityEnded' }
          : { since: now, reason: 'ActivityNotDone' },
      );
    } else if (oldestStart < i.launchTime - ACTIVITY_LEAD_MS) {
      out.set(i.id, { since: Math.min(now, i.launchTime), reason: 'NoActivity' });
    } else {
      out.set(i.id, { since: now, reason: 'SearchBounded' });
    }
  }
  return out;
}
