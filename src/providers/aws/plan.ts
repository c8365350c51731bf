import type { InstanceState } from '../types.js';

/** AsgInstanceView is what the pure decisions need of one Auto Scaling group member. */
export interface AsgInstanceView {
  id: string;
  lifecycleState: string;
  healthStatus: string;
  /** Epoch ms when it was first seen InService, if it was. */
  inServiceSince?: number;
}

/**
 * asgState maps an Auto Scaling lifecycle state to an instance state; InService counts as ready
 * only once the instance warm-up has passed since it was first seen InService.
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
