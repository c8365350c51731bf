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

/** notDueCount sums the per-subject counts of delayed subjects whose due second is after `now`. */
export function notDueCount(subjects: Readonly<Record<string, number>>, now: number): number {
  let count = 0;
  for (const [subject, n] of Object.entries(subjects)) {
    const due = Number(subject.slice(subject.lastIndexOf('.') + 1)) * 1000;
    if (Number.isFinite(due) && due > now) count += n;
  }
  return count;
}

/** readNotDue counts the jobs of the stream `info` describes that are not due at `now`. */
export async function readNotDue(jsm: JetStreamManager, info: StreamInfo, now: number): Promise<number> {
  const pattern = delayedPatternOf(info.config.subjects ?? []);
  if (pattern === undefined) return 0;
  const filtered = await jsm.streams.info(info.config.name, { subjects_filter: pattern });
  return notDueCount(filtered.state.subjects ?? {}, now);
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
