import type { Alert } from './types.js';

/** InheritFacts are what a new leader knows once it adopted what runs. */
export interface InheritFacts {
  /** The groups configured now. */
  groups: ReadonlySet<string>;
  /** Whether a group has every wanted instance up and ready (see `groupHealthy`). */
  healthy(group: string): boolean;
}

/**
 * Alerts only the leader evaluates, whose next evaluation on the new leader closes them: a
 * `blocked-at-max` by the group's next policy decision (the journal's limit notice, restored, says
 * whether one still holds), a `resize` by the group's next `ResizeFinished`, a `provider` by a
 * success of the operation that failed. Closing them at a takeover would resolve, then fire again,
 * every condition that still holds.
 */
const DECIDED_LATER = new Set(['blocked-at-max', 'resize', 'provider']);

/**
 * judgeInherited re-derives an alert a previous leader left open from the new leader's facts:
 * undefined keeps it firing (it still holds, or its own evaluation here decides), a summary
 * resolves it now. Every controller evaluates the other alerts all along (an instance's health
 * check, a metric source): one that does not fire here no longer holds. Pure.
 */
export function judgeInherited(alert: Alert, facts: InheritFacts): string | undefined {
  const kind = alert.key.slice(0, alert.key.indexOf(':'));
  const group = alert.group;
  if (group !== undefined && !facts.groups.has(group))
    return `${alert.key}: group ${group} is no longer configured (seen by the new leader)`;
  if (kind === 'crash-loop' && group !== undefined)
    return facts.healthy(group) ? `group ${group} is healthy again (seen by the new leader)` : undefined;
  if (DECIDED_LATER.has(kind)) return undefined;
  return `${alert.key} no longer fires (seen by the new leader)`;
}
