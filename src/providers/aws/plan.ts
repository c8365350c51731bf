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
  // Held by a termination lifecycle hook: still running, so it drains (no new requests) until the
  // hook is completed, instead of being dropped with requests in flight.
  if (s === 'Terminating:Wait') return 'draining';
  if (s.startsWith('Terminat') || s.startsWith('Detach') || s === 'Warmed:Terminated') return 'stopping';
  if (s.startsWith('Standby') || s.startsWith('EnteringStandby')) return 'draining';
  if (s === 'InService') {
    return view.inServiceSince !== undefined && now - view.inServiceSince >= warmupMs ? 'ready' : 'starting';
  }
  return 'starting';
}

/**
 * countsTowardDesired says whether Auto Scaling counts a member in this lifecycle state toward the
 * group's DesiredCapacity. Launching (`Pending…`) and `InService` members do. Members in
 * `EnteringStandby`/`Standby` do not: EnterStandby either lowers the desired capacity
 * (ShouldDecrementDesiredCapacity) or has the group launch a replacement, and ExitStandby raises
 * it again. Nor do members on their way out (`Terminating…`, `Detaching`) or in a warm pool.
 */
export function countsTowardDesired(lifecycleState: string): boolean {
  const s = lifecycleState;
  return !(
    s.startsWith('Standby') ||
    s.startsWith('EnteringStandby') ||
    s.startsWith('Terminat') ||
    s.startsWith('Detach') ||
    s.startsWith('Warmed:')
  );
}

/** ScaleMember is what the wait of a scale needs of one group member. */
export interface ScaleMember {
  id: string;
  lifecycleState: string;
  /** Ready to serve: InService past the warm-up, healthy, with a private IP. */
  ready: boolean;
}

/** ScaleWaitReason says where the wait of a scale stands. */
export type ScaleWaitReason =
  /** As many members count toward the desired capacity as asked, all ready; removed ones gone. */
  | 'CapacityReached'
  /** Not there yet: launching, warming, or removed instances still listed. */
  | 'Converging'
  /** Two reads in a row, both sent after this process's last write, give another DesiredCapacity. */
  | 'DesiredChangedElsewhere';

/** ScaleWait is where the wait of a scale stands, with the counts behind it. */
export interface ScaleWait {
  reason: ScaleWaitReason;
  /** The group's DesiredCapacity now, when it changed elsewhere. */
  groupDesired?: number;
  /** Members counted toward the desired capacity, and how many of those are ready. */
  counted: number;
  ready: number;
  /** Members in Standby or EnteringStandby (not counted). */
  standby: number;
  /** Instances this process terminated that the group still lists. */
  removing: number;
  message: string;
}

/**
 * desiredSetElsewhere is the group's DesiredCapacity when another client (the console, a scheduled
 * action, a scaling policy, an EnterStandby or ExitStandby) set it to something other than
 * `desired`, what this process last wrote or took: the last two of `desiredReads` (DesiredCapacity
 * from reads sent and answered after this process's last write to it, oldest first) agree on
 * another value. Two, not one: AWS does not promise that a read right after a write shows it.
 * Undefined otherwise.
 */
export function desiredSetElsewhere(desiredReads: readonly number[], desired: number): number | undefined {
  const [before, last] = desiredReads.slice(-2);
  return before !== undefined && before === last && last !== desired ? last : undefined;
}

/**
 * scaleWait judges the wait for a group to reach `target`: the members Auto Scaling counts toward
 * the desired capacity (`countsTowardDesired`; not Standby, not on their way out) number `target`,
 * all ready, and none of `removing` (instances this process terminated) is listed any more. An
 * operator who keeps an instance in Standby does not hold it up. `desiredReads` are the group's
 * DesiredCapacity from reads sent after this process's last write to it, oldest first: when the
 * last two agree on another value, someone else (the console, a scheduled action, a scaling
 * policy, an EnterStandby or ExitStandby) set it, and `target` is no longer what the group
 * converges to (`desiredSetElsewhere`).
 */
export function scaleWait(
  members: readonly ScaleMember[],
  target: number,
  removing: ReadonlySet<string>,
  desiredReads: readonly number[],
): ScaleWait {
  const counted = members.filter((m) => countsTowardDesired(m.lifecycleState));
  const ready = counted.filter((m) => m.ready).length;
  const standby = members.filter((m) => /^(Standby|EnteringStandby)/.test(m.lifecycleState)).length;
  const leaving = members.filter((m) => removing.has(m.id)).length;
  const counts = { counted: counted.length, ready, standby, removing: leaving };
  const detail =
    `${counted.length} counted toward the desired capacity, ${ready} ready` +
    (standby > 0 ? `, ${standby} in Standby (not counted)` : '') +
    (leaving > 0 ? `, ${leaving} removed but still listed` : '');
  const elsewhere = desiredSetElsewhere(desiredReads, target);
  if (elsewhere !== undefined)
    return {
      reason: 'DesiredChangedElsewhere',
      groupDesired: elsewhere,
      ...counts,
      message: `DesiredCapacity is ${elsewhere}, set by another client while scaling to ${target} (${detail})`,
    };
  if (counted.length === target && ready === target && leaving === 0)
    return { reason: 'CapacityReached', ...counts, message: detail };
  return { reason: 'Converging', ...counts, message: detail };
}

/**
 * refreshHealthyFloor is how many of `desired` instances an instance refresh keeps healthy at
 * `percent` MinHealthyPercentage, as Auto Scaling counts it: the percentage of the desired capacity
 * rounded up to a whole instance (RefreshPreferences, API reference). 90% of 3 is 2.7: all 3.
 */
export function refreshHealthyFloor(percent: number, desired: number): number {
  return Math.floor((Math.max(0, desired) * Math.max(0, percent) + 99) / 100);
}

/**
 * refreshMinHealthyPercentage is the instance refresh floor that keeps at least `min` of `desired`
 * instances in service, as Auto Scaling rounds it (refreshHealthyFloor): the configured percentage,
 * raised when its floor is below `min` to the highest percentage whose floor is `min` (not one
 * more), and 100 when the floor is the whole group, for which refreshMaxHealthyPercentage then
 * makes room. Before, the raise was ceil(100 × min / desired), which Auto Scaling's rounding up
 * turned into one instance more than `min` whenever it was not a whole number (min 1 of 3: 34%, a
 * floor of 2; min 2 of 3: 67%, all 3), and a floor of the whole group was sent as is (90% of 3).
 */
export function refreshMinHealthyPercentage(configured: number, min: number, desired: number): number {
  if (desired <= 0) return Math.min(100, Math.max(0, configured));
  let raised = Math.floor((100 * Math.max(0, min)) / desired);
  if (refreshHealthyFloor(raised, desired) < min) raised += 1; // only above 100 instances
  const percent = Math.min(100, Math.max(configured, raised));
  return refreshHealthyFloor(percent, desired) >= desired ? 100 : percent;
}

/**
 * refreshMaxHealthyPercentage lets an instance refresh launch one replacement before it terminates
 * an old instance when its floor (refreshHealthyFloor of `minHealthy`) is the whole group: at 100%
 * MaxHealthyPercentage Auto Scaling could then replace nothing without going below the floor
 * (AWS allows 100..200, at most 100 above the minimum). Otherwise 100: old instances go first.
 */
export function refreshMaxHealthyPercentage(minHealthy: number, desired: number): number {
  if (desired <= 0 || refreshHealthyFloor(minHealthy, desired) < desired) return 100;
  return Math.min(200, 100 + Math.ceil(100 / desired));
}

/** AsgBounds is an Auto Scaling group's MinSize and MaxSize. */
export interface AsgBounds {
  min: number;
  max: number;
}

/**
 * asgBounds is the MinSize/MaxSize to give the group while min/max_instances are `configured`
 * (changed by a config reload) and its DesiredCapacity is, or is about to be, each of `counts`:
 * the configured bounds, widened just enough to hold every count. UpdateAutoScalingGroup moves a
 * DesiredCapacity outside the new bounds itself (its API reference), and the group then terminates
 * by its own termination policy, not drained; and it refuses a SetDesiredCapacity above MaxSize,
 * and a TerminateInstanceInAutoScalingGroup that decrements below MinSize. So the bounds reach the
 * configured ones once the count is inside them, after the drained scale-in or the scale-out that
 * fits it.
 */
export function asgBounds(configured: AsgBounds, counts: readonly number[]): AsgBounds {
  return {
    min: Math.min(configured.min, ...counts),
    max: Math.max(configured.max, ...counts),
  };
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

/** ScaleInChoice is which instances a scale-in terminates, and which protected ones it leaves. */
export interface ScaleInChoice<T extends { id: string }> {
  /** In the order to terminate them. */
  victims: T[];
  /** Protected from scale-in among those it would have taken: left, so the scale-in stops short. */
  kept: string[];
}

/**
 * scaleInVictims picks the `live` instances a scale-in to `n` terminates: those held out of the
 * balancer (`isHeld`: drained for a replacement that failed, they fail their checks and serve
 * nobody) first, then starting ones (they serve nobody yet), then the newest. Never one protected
 * from scale-in (`isProtected`):
 * TerminateInstanceInAutoScalingGroup does not look at that protection, so an operator's (or ECS
 * managed termination protection's) word that an instance must stay is honoured here or nowhere;
 * the next unprotected one goes instead, and when too few are unprotected the protected ones that
 * would have gone are `kept`.
 */
export function scaleInVictims<T extends { id: string; state: InstanceState }>(
  live: readonly T[],
  isProtected: (id: string) => boolean,
  n: number,
  isHeld: (id: string) => boolean = () => false,
): ScaleInChoice<T> {
  const count = Math.max(0, live.length - n);
  const order = [
    ...live.filter((i) => isHeld(i.id)).reverse(),
    ...live.filter((i) => !isHeld(i.id) && i.state === 'starting').reverse(),
    ...live.filter((i) => !isHeld(i.id) && i.state === 'ready').reverse(),
  ];
  const victims = order.filter((i) => !isProtected(i.id)).slice(0, count);
  const kept = order
    .slice(0, count)
    .filter((i) => isProtected(i.id))
    .slice(0, count - victims.length)
    .map((i) => i.id);
  return { victims, kept };
}
