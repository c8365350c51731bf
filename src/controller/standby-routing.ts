import type { Instance, InstanceState } from '../providers/index.js';

/**
 * RecordedMember is one local instance as the state store records it and this host sees it: where
 * it listens, whether its process still runs (same pid and start time), and whether the leader
 * marked it draining (it is about to stop it).
 */
export interface RecordedMember {
  readonly id: string;
  /** `host:port`. */
  readonly address: string;
  readonly alive: boolean;
  readonly draining: boolean;
}

/** RoutedInstance is what the balancer is given for one member of a group. */
export interface RoutedInstance {
  readonly id: string;
  readonly address: string;
  readonly state: InstanceState;
}

/**
 * LeaveReason says why a standby takes an instance out of its balancer. Local groups: NotRecorded,
 * Draining (marked by the leader), ProcessGone, AddressChanged. Kubernetes and AWS groups: Gone (no
 * longer listed), Stopping (a terminating pod; Terminating or Detaching in the Auto Scaling group),
 * Draining (in Standby), NotReady (a pod whose Ready condition is no longer True), Failed (a failed
 * pod, an instance marked Unhealthy), AddressChanged.
 */
export type LeaveReason =
  | 'NotRecorded'
  | 'Draining'
  | 'ProcessGone'
  | 'AddressChanged'
  | 'Gone'
  | 'Stopping'
  | 'NotReady'
  | 'Failed';

/** StandbyPlan is what one read (of the state store, or of an engine's instances) changes in a standby's membership. */
export interface StandbyPlan<M = RecordedMember> {
  /** To be routed to and not yet in the membership: in once their health check passes. */
  readonly join: readonly M[];
  /** In the membership but no longer to be routed to, each with why. */
  readonly leave: readonly { readonly id: string; readonly reason: LeaveReason }[];
}

/**
 * planStandbyMembership turns the recorded instances of a group and a standby's current membership
 * (id → address) into joins and leaves. An instance the leader drains leaves at once: the leader
 * stops it only after a grace longer than a standby's read interval (see `standbyDrainGrace`).
 */
export function planStandbyMembership<M extends RecordedMember>(
  recorded: readonly M[],
  current: ReadonlyMap<string, string>,
): StandbyPlan<M> {
  const byId = new Map(recorded.map((r) => [r.id, r]));
  const leave: { id: string; reason: LeaveReason }[] = [];
  for (const [id, address] of current) {
    const record = byId.get(id);
    const reason: LeaveReason | undefined =
      record === undefined
        ? 'NotRecorded'
        : record.address !== address
          ? 'AddressChanged'
          : record.draining
            ? 'Draining'
            : !record.alive
              ? 'ProcessGone'
              : undefined;
    if (reason) leave.push({ id, reason });
  }
  const join = recorded.filter((r) => r.alive && !r.draining && current.get(r.id) !== r.address);
  return { join, leave };
}

/**
 * planEngineMembership is planStandbyMembership for a Kubernetes or AWS group, whose instances a
 * standby sees itself through its provider's read-only `observe`: the Ready ones join (once their
 * health check passes), and one in the membership leaves as soon as it is no longer listed or no
 * longer ready — a pod with a deletionTimestamp, an instance leaving InService — with why.
 */
export function planEngineMembership(
  instances: readonly Instance[],
  current: ReadonlyMap<string, string>,
): StandbyPlan<Instance> {
  const byId = new Map(instances.map((i) => [i.id, i]));
  const leave: { id: string; reason: LeaveReason }[] = [];
  for (const [id, address] of current) {
    const instance = byId.get(id);
    const reason: LeaveReason | undefined =
      instance === undefined
        ? 'Gone'
        : instance.address !== address
          ? 'AddressChanged'
          : engineLeaveReason(instance.state);
    if (reason) leave.push({ id, reason });
  }
  const join = instances.filter((i) => i.state === 'ready' && current.get(i.id) !== i.address);
  return { join, leave };
}

function engineLeaveReason(state: InstanceState): LeaveReason | undefined {
  switch (state) {
    case 'ready':
      return undefined;
    case 'starting':
      return 'NotReady';
    case 'draining':
      return 'Draining';
    case 'failed':
      return 'Failed';
    default:
      return 'Stopping';
  }
}

/** TakeoverMerge is the membership a new leader gives its balancer, and the standby view still needed. */
export interface TakeoverMerge {
  readonly instances: readonly RoutedInstance[];
  /** The view with every entry the provider has now decided on (ready, draining, gone) dropped. */
  readonly view: ReadonlyMap<string, string>;
}

/**
 * mergeTakeover is a leader's membership while it takes over what it routed to as a standby
 * (`view`, id → address): the provider's instances, except that an adopted one still `starting`
 * (its readiness probe not passed yet) that the standby already had in rotation stays `ready`, so
 * adoption opens no gap. While `adopting` (the provider has not listed what runs yet), view
 * entries the provider does not know stay in too; afterwards the provider's word is final.
 */
export function mergeTakeover(
  provider: readonly Instance[],
  view: ReadonlyMap<string, string>,
  adopting: boolean,
): TakeoverMerge {
  const next = new Map(view);
  const instances: RoutedInstance[] = [];
  const known = new Set<string>();
  for (const instance of provider) {
    known.add(instance.id);
    if (instance.state === 'starting' && view.get(instance.id) === instance.address) {
      instances.push({ id: instance.id, address: instance.address, state: 'ready' });
      continue;
    }
    instances.push(instance);
    next.delete(instance.id);
  }
  for (const [id, address] of view) {
    if (known.has(id)) continue;
    if (adopting) instances.push({ id, address, state: 'ready' });
    else next.delete(id);
  }
  return { instances, view: next };
}
