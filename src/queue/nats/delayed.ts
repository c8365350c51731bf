/**
 * Delayed jobs on JetStream, and how a backlog reading leaves them out.
 *
 * A stream cannot hold a message back until a time (message schedules came with NATS 2.12; the
 * server here is 2.9): a delayed job is stored at once, with its due time in `Sp-Not-Before`, and a
 * worker that pulls it early naks it for the rest of the delay. The consumer counts it as waiting
 * (`num_pending`) until a worker pulls it and as unacked (`num_ack_pending`) after, and neither
 * count can be filtered by time: read from the consumer alone, a backlog counted jobs not due yet,
 * so a group scaled to zero woke for a job due in an hour and idled. So a delayed job is published
 * on a subject of its own naming its due second, `<subject>.d.<epoch s, rounded up>`, and the
 * stream's per-subject counts (stream info with `subjects_filter`, one request, paged by the
 * client) say how many stored jobs are not due yet. Every stored job of a work-queue stream with
 * one consumer is waiting or unacked, so the jobs due now are exactly those counts minus that.
 */
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';

/** delayedSubject is the subject a job due at `notBefore` (ms since the epoch) is published on. */
export function delayedSubject(subject: string, notBefore: number): string {
  // Rounded up: a job is never counted before it is due, and at most 1 s after.
  return `${subject}.d.${Math.ceil(notBefore / 1000)}`;
}

/** delayedPattern is the stream subject that takes every delayed job of `subject`. */
export function delayedPattern(subject: string): string {
  return `${subject}.d.*`;
}

/**
 * delayedPatternOf finds the delayed-jobs subject among a stream's subjects: `<s>.d.*` next to
 * `<s>`. Undefined for streams made before delayed subjects (their delayed jobs cannot be told apart).
 */
export function delayedPatternOf(subjects: readonly string[]): string | undefined {
  return subjects.find((s) => s.endsWith('.d.*') && subjects.includes(s.slice(0, -'.d.*'.length)));
}

/**
 * delayedPatternsOf is every delayed-jobs subject among a stream's subjects (delayedPatternOf finds
 * the first): a stream of the user's own may take several queues' subjects, each with its delayed one.
 */
export function delayedPatternsOf(subjects: readonly string[]): string[] {
  return subjects.filter((s) => s.endsWith('.d.*') && subjects.includes(s.slice(0, -'.d.*'.length)));
}

/**
 * subjectMatches says whether the subject `filter` (NATS wildcards: `*` one token, a last `>` one
 * or more) matches the subject `subject` has no wildcards.
 */
export function subjectMatches(filter: string, subject: string): boolean {
  const want = filter.split('.');
  const got = subject.split('.');
  for (const [i, token] of want.entries()) {
    if (token === '>') return i === want.length - 1 && got.length > i;
    if (i >= got.length || (token !== '*' && token !== got[i])) return false;
  }
  return want.length === got.length;
}

/**
 * filtersOf is the filter subjects a consumer delivers from (`filter_subject`, or `filter_subjects`
 * from NATS 2.10); empty: the whole stream.
 */
export function filtersOf(config: { filter_subject?: string; filter_subjects?: string[] }): string[] {
  const filters = [...(config.filter_subjects ?? []), config.filter_subject ?? ''];
  return filters.filter((f) => f !== '');
}

/** notDueCount sums the per-subject counts of delayed subjects whose due second is after `now`. */
export function notDueCount(subjects: Readonly<Record<string, number>>, now: number): number {
  let count = 0;
  for (const [subject, n] of Object.entries(subjects)) {
    const due = Number(subject.slice(subject.lastIndexOf('.') + 1)) * 1000;
    if (Number.isFinite(due) && due > now) count += n;
  }
  return count;
}

/**
 * readNotDue counts the jobs of the stream `info` describes that are not due at `now` and that a
 * consumer with filter subjects `filters` would be given (none: every one of the stream). Before,
 * every not-due job of the stream's first delayed subject was counted, whatever the consumer's
 * filter: a consumer filtered to another subject of the stream had jobs it would never be given
 * taken out of its backlog, which could read 0 while its own jobs waited.
 */
export async function readNotDue(
  jsm: JetStreamManager,
  info: StreamInfo,
  now: number,
  filters: readonly string[] = [],
): Promise<number> {
  let count = 0;
  for (const pattern of delayedPatternsOf(info.config.subjects ?? [])) {
    const filtered = await jsm.streams.info(info.config.name, { subjects_filter: pattern });
    const subjects = Object.entries(filtered.state.subjects ?? {}).filter(
      ([subject]) => filters.length === 0 || filters.some((f) => subjectMatches(f, subject)),
    );
    count += notDueCount(Object.fromEntries(subjects), now);
  }
  return count;
}

/**
 * splitBacklog takes `notDue` delayed jobs out of a consumer's waiting and unacked counts. The
 * total is exact; which of the two held them is not known (a worker pulls a job early and naks
 * it, moving it from waiting to unacked), so they come out of `waiting` first: with no worker
 * running, where a reading decides whether to wake a group, that is where they are.
 */
export function splitBacklog(
  waiting: number,
  unacked: number,
  notDue: number,
): { depth: number; pending: number; delayed: number } {
  const fromWaiting = Math.min(notDue, waiting);
  return {
    depth: waiting - fromWaiting,
    pending: Math.max(0, unacked - (notDue - fromWaiting)),
    delayed: notDue,
  };
}
