/**
 * The decision journal aggregates repeats, as Kubernetes aggregates identical events (one event
 * with `count`, `firstTimestamp`, `lastTimestamp`): while a provider kept failing, every retry
 * journaled the policy's decision and its `ScaleFailed` again (measured: 9 entries in 20 one-second
 * ticks), and an outage pushed the older history out of `journal_size`. Pure.
 */

/** RepeatLike is the part of a journal entry that says whether another repeats it. */
export interface RepeatLike {
  group: string;
  source: string;
  before: number;
  after: number;
  reasons: readonly string[];
  message: string;
}

/**
 * REPEAT_WINDOW is how many of a group's newest entries a new one may repeat. Not just the newest:
 * a retried change journals a pair (the decision, then its `ScaleFailed`), so while a provider keeps
 * failing the newest entry is never the twin of the next one. Not more: a repeat moves its entry
 * to the end (see DecisionJournal.append), so it should cross as little of the group's history as
 * it can; two covers the pair.
 */
export const REPEAT_WINDOW = 2;

// An ISO-8601 time (an error that quotes when it happened): one token, whatever its digits.
const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g;
// A number standing alone: not part of a name such as `web-3`, `i-0abc12`, `10.0.0.1` or `v2`.
const MEASUREMENT = /(?<![\w.-])\d+(?:\.\d+)?(?![\w.-])/g;

/**
 * messageShape is a message with what changes between repeats of one decision masked: ISO times
 * (`<time>`) and numbers standing alone (`#`): metric averages (`cpu 93.4 vs target 80`), attempt
 * counts, durations, HTTP statuses, ports after a colon. What a number names stays: an instance
 * (`web-3`), an address (`10.0.0.1`), a version (`v2`); and the counts that matter, before and
 * after, are compared as fields. So the policy's `1 → 2: cpu 93.4 vs target 80; …` repeated with
 * `cpu 95.1` is the same decision, its failure with another error text (`403 Forbidden` after
 * `500 Internal Server Error`) is not, nor is a crash of `web-4` after one of `web-3`.
 */
export function messageShape(message: string): string {
  return message.replace(ISO_TIME, '<time>').replace(MEASUREMENT, '#');
}

/**
 * sameDecision says whether `next` repeats `prior`: the same group, source, count change (before
 * and after), reason tokens in the same order, and message shape (see messageShape). The inputs
 * are not compared: they are what the decision saw (metric readings), which a repeat shows anew.
 */
export function sameDecision(prior: RepeatLike, next: RepeatLike): boolean {
  return (
    prior.group === next.group &&
    prior.source === next.source &&
    prior.before === next.before &&
    prior.after === next.after &&
    prior.reasons.length === next.reasons.length &&
    prior.reasons.every((r, i) => r === next.reasons[i]) &&
    messageShape(prior.message) === messageShape(next.message)
  );
}
