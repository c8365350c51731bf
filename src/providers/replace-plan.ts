import type { Instance } from './types.js';

/**
 * EngineReplacePlan is the decision to hand one instance to its engine for replacement (evict a
 * pod, mark an EC2 instance Unhealthy), with its reason token:
 * - `SpareReady`: the other ready instances alone cover the desired count;
 * - `OnlyWay`: they do not, but the instance fails its health checks and serves nothing: taking it
 *   away costs no capacity, and the engine only starts its successor once it is gone;
 * - `NotFound`: no ready instance has this id;
 * - `LastReady`: no other instance is ready — the engine would take the group to zero;
 * - `DisruptionInProgress`: another instance of the group is going away (draining, stopping):
 *   one at a time, so two removals never overlap.
 */
export type EngineReplacePlan =
  | { readonly ok: true; readonly reason: 'SpareReady' | 'OnlyWay'; readonly othersReady: number }
  | {
      readonly ok: false;
      readonly reason: 'NotFound' | 'LastReady' | 'DisruptionInProgress';
      readonly message: string;
    };

/**
 * planEngineReplace decides whether instance `id` may be handed to the engine for replacement now,
 * given every instance of the group and its desired count. Pure.
 */
export function planEngineReplace(
  instances: readonly Instance[],
  id: string,
  desired: number,
): EngineReplacePlan {
  if (!instances.some((i) => i.id === id && i.state === 'ready'))
    return { ok: false, reason: 'NotFound', message: `no ready instance ${id}` };
  const leaving = instances.find((i) => i.id !== id && (i.state === 'draining' || i.state === 'stopping'));
  if (leaving)
    return {
      ok: false,
      reason: 'DisruptionInProgress',
      message: `${leaving.id} is ${leaving.state}: one instance goes away at a time`,
    };
  const othersReady = instances.filter((i) => i.id !== id && i.state === 'ready').length;
  if (othersReady === 0)
    return {
      ok: false,
      reason: 'LastReady',
      message: `${id} is the only ready instance: replacing it would leave none`,
    };
  return { ok: true, reason: othersReady >= desired ? 'SpareReady' : 'OnlyWay', othersReady };
}

/** replacePlanCode maps a refused plan to the ProviderError code callers branch on. */
export function replacePlanCode(reason: 'NotFound' | 'LastReady' | 'DisruptionInProgress') {
  return reason === 'NotFound' ? 'NOT_FOUND' : reason === 'LastReady' ? 'CAPACITY' : 'BUSY';
}
