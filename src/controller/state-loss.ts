import type { ControllerState } from './state/types.js';

/**
 * stateLoss says why a takeover under fencing `token` finds a state store that lost its data, or
 * undefined when nothing says so. Every tenure writes to the store (its takeover journals at least
 * `BecameLeader` and each group's start), so a store with no desired count and no decision while
 * the token shows earlier tenures (tokens never go back, even when the lease's store lost them:
 * see the lease's ACQUIRE) lost what they wrote: a Redis restarted without persistence, a FLUSHALL,
 * a failover to a replica that had not received it; or the store was only just configured.
 * Before, the new leader went on in silence from initial_instances. Pure, so it is tested apart.
 */
export function stateLoss(token: number, saved: ControllerState): string | undefined {
  if (!(token > 1)) return undefined;
  if (Object.keys(saved.desired).length > 0 || saved.journal.length > 0) return undefined;
  return (
    `the state store holds no desired count and no decision although fencing token ${token} shows earlier leaders: ` +
    'its data was lost (a Redis restarted without persistence, a FLUSHALL, a failover to a replica behind) or it is new; ' +
    'desired counts start from what runs, else initial_instances, and local instances a previous leader started that the store ' +
    'no longer records are not managed by this controller (only the controller that started them, if it leads again, takes them back)'
  );
}
