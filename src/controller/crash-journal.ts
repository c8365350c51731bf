import type { JournalEntry } from './journal.js';

type CrashEntry = Omit<JournalEntry, 'seq' | 'time'>;

/**
 * crashEntry is the journal entry of an instance that exited on its own or never became ready
 * (`InstanceCrashed`): the provider replaces it, with backoff, at the same count. Before, a crash
 * replacement reached only the log and `scaleplane_instance_crashes_total`, while a replacement for
 * a failed health check was journaled: `GET /api/scalability/events` did not say why a group's
 * instances changed. Pure.
 */
export function crashEntry(
  group: string,
  desired: number,
  instance: string,
  detail: { code: number | null; signal: string | null; reason?: string },
): CrashEntry {
  const how = detail.signal !== null ? `signal ${detail.signal}` : `exit code ${detail.code ?? 'unknown'}`;
  return {
    group,
    source: 'health',
    before: desired,
    after: desired,
    reasons: ['InstanceCrashed'],
    message: `${instance} failed (${detail.reason ?? how}${detail.reason ? `, ${how}` : ''}); replaced with backoff`,
    inputs: {
      instance,
      code: detail.code,
      signal: detail.signal,
      ...(detail.reason && { reason: detail.reason }),
    },
  };
}

/**
 * crashLoopEntry is the journal entry of a crash loop (`CrashLoopBackOff`, as the kubelet calls
 * it): replacing is paused, so the group runs below its desired count, one instance tried now and
 * then (every 5 minutes) until one is ready or the count changes. Pure.
 */
export function crashLoopEntry(
  group: string,
  desired: number,
  detail: { crashes: number; windowMs: number },
): CrashEntry {
  return {
    group,
    source: 'health',
    before: desired,
    after: desired,
    reasons: ['CrashLoopBackOff'],
    message: `${detail.crashes} crashes in ${detail.windowMs} ms: replacing paused, so fewer than ${desired} may run, until an instance tried now and then is ready or the count changes`,
    inputs: { crashes: detail.crashes, windowMs: detail.windowMs },
  };
}
