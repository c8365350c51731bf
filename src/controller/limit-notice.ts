import type { JournalEntry } from './journal.js';

/**
 * A limit notice is the journal entry that says, once, that a limit holds a group back (the policy
 * wants more than `max_instances`, or `limits.max_instances_total` caps it) while its count stays,
 * and, once, that it no longer does. The `blocked-at-max` alert fires on the first and resolves on
 * the second. Before, only the first was journaled: a group the policy then wanted at exactly its
 * maximum (the load fell from 8 instances' worth to 4, max 4) journaled nothing more, so the alert
 * stayed open for as long as the group sat at max, hours. Pure.
 */

/** NoticeKey identifies a limit notice by its reasons; '' when no limit holds the group back. */
export type NoticeKey = string;

/** DecisionFacts are the parts of a no-change decision a notice depends on. */
export interface DecisionFacts {
  reasons: readonly string[];
  /** The largest metric proposal before any limit (HPA's prenormalized recommendation). */
  prenormalized: number;
  current: number;
}

/** noticeKey is the notice a no-change decision stands for: its reasons when a limit bites, else ''. */
export function noticeKey(decision: DecisionFacts): NoticeKey {
  const blocked =
    (decision.reasons.includes('TooManyReplicas') && decision.prenormalized > decision.current) ||
    decision.reasons.includes('TotalInstancesLimit');
  return blocked ? decision.reasons.join(',') : '';
}

/**
 * judgeNotice says what a no-change decision journals, given the notice last journaled: `held` (a
 * limit started to bite, or bites for other reasons), `released` (the limit no longer bites), or
 * nothing. A decision with a metric missing says nothing about the load, so it releases nothing:
 * without samples no limit is seen to bite, and the alert would resolve and fire again as soon as
 * the metric came back.
 */
export function judgeNotice(
  last: NoticeKey,
  decision: DecisionFacts,
): { journal: 'held' | 'released' | undefined; key: NoticeKey } {
  const key = noticeKey(decision);
  if (key === last) return { journal: undefined, key };
  if (key !== '') return { journal: 'held', key };
  if (decision.reasons.includes('NoMetrics') || decision.reasons.includes('MetricMissing'))
    return { journal: undefined, key: last };
  return { journal: 'released', key };
}

/**
 * restoredNotice is the notice in force according to a restored journal (a restart or a takeover):
 * the group's newest policy entry, when it is a limit notice still holding the group back. A new
 * leader then neither journals the same notice again nor misses its release.
 */
export function restoredNotice(entries: readonly JournalEntry[]): NoticeKey {
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    if (entry.source !== 'policy' || entry.reasons.includes('StartupLearnt')) continue;
    if (entry.before !== entry.after) return '';
    const prenormalized = entry.inputs.prenormalized;
    return noticeKey({
      reasons: entry.reasons,
      prenormalized: typeof prenormalized === 'number' ? prenormalized : entry.after,
      current: entry.after,
    });
  }
  return '';
}
