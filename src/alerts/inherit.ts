import type { Alert } from './types.js';

/** InheritFacts are what a new leader knows once it adopted what runs. */
export interface InheritFacts {
  /** The groups configured now. */
  groups: ReadonlySet<string>;
  /** Whether a group has every wanted instance up and ready (see `groupHealthy`). */
  healthy(group: string): boolean;
  /** Whether a group has instance `id` now (adopted, or still running). */
  hasInstance(group: string, id: string): boolean;
  /**
   * How long this controller's own evaluation may take to fire again what still holds, ms: an
   * instance's health checks (`unhealthy_threshold` failed checks, each up to an interval and its
   * timeout) and a metric source's read (its timeout, after the next poll).
   */
  refireWithin: { unhealthy: number; metricSource: number };
}

/**
 * InheritVerdict is what becomes of an inherited alert: `undefined` keeps it firing (its own
 * resolve closes it later), a summary resolves it now, and `unlessFiredWithin` resolves it with
 * `summary` after that many ms unless this controller fires it again meanwhile.
 */
export type InheritVerdict = string | { summary: string; unlessFiredWithin: number } | undefined;

/**
 * Alerts only the leader evaluates, whose next evaluation on the new leader closes them: a
 * `blocked-at-max` by the group's next policy decision (the journal's limit notice, restored, says
 * whether one still holds), a `resize` by the group's next `ResizeFinished`, a `provider` by a
 * success of the operation that failed. Closing them at a takeover would resolve, then fire again,
 * every condition that still holds.
 */
const DECIDED_LATER = new Set(['blocked-at-max', 'resize', 'provider']);

/**
 * judgeInherited re-derives an alert a previous leader left open from the new leader's facts. Pure.
 *
 * An instance's health and a metric source are evaluated by every controller, but only from its
 * start: at a takeover by a controller that just (re)started, not firing here yet does not mean
 * the condition is gone. Resolved at once, an instance still failing its health checks was
 * resolved at the receiver and fired again a few seconds later, once the new balancer had counted
 * its failed checks (a page closed and reopened for one sick instance). Each is now given the time
 * its own evaluation takes: fired again here, it stays open and closes as one fired here does.
 */
export function judgeInherited(alert: Alert, facts: InheritFacts): InheritVerdict {
  const kind = alert.key.slice(0, alert.key.indexOf(':'));
  const group = alert.group;
  if (group !== undefined && !facts.groups.has(group))
    return `${alert.key}: group ${group} is no longer configured (seen by the new leader)`;
  if (kind === 'crash-loop' && group !== undefined)
    return facts.healthy(group) ? `group ${group} is healthy again (seen by the new leader)` : undefined;
  if (DECIDED_LATER.has(kind)) return undefined;
  if (kind === 'unhealthy' && group !== undefined) {
    const id = alert.key.slice(`unhealthy:${group}:`.length);
    if (!facts.hasInstance(group, id))
      return `instance ${id} of group ${group} is gone (seen by the new leader)`;
    return {
      summary: `instance ${id} of group ${group} passes its health checks (seen by the new leader)`,
      unlessFiredWithin: facts.refireWithin.unhealthy,
    };
  }
  if (kind === 'metric-source')
    return {
      summary: `${alert.key} no longer fires: the new leader reads the metric`,
      unlessFiredWithin: facts.refireWithin.metricSource,
    };
  return `${alert.key} no longer fires (seen by the new leader)`;
}
