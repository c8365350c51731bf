/**
 * PostgreSQL timelines, pure. An LSN is a place in one timeline's WAL: a promotion (or a point-in-time
 * recovery) starts a new timeline that shares the old one's WAL only up to where it forked. A replica
 * that still replays the old timeline (following the old primary, or stuck on it after its upstream
 * went) has LSNs that compare with the new primary's as numbers and mean nothing: past the fork they
 * name WAL the new primary never wrote.
 */

/**
 * walfileTimeline is the timeline in a WAL file name (its first 8 hex digits, as
 * `pg_walfile_name()` gives it), or null for anything else.
 */
export function walfileTimeline(walfile: string | null | undefined): number | null {
  if (typeof walfile !== 'string' || !/^[0-9A-F]{24}$/i.test(walfile)) return null;
  return Number.parseInt(walfile.slice(0, 8), 16);
}

/** ReplicaTimelineReading is what a probe reads of a replica's timeline. */
export interface ReplicaTimelineReading {
  /** A WAL receiver runs (`pg_stat_wal_receiver` has a row, its pid visible to every role). */
  receiverRunning: boolean;
  /**
   * The timeline of the WAL it last received (`received_tli`); null without a receiver, and with one
   * for a role without pg_read_all_stats, which sees only the receiver's pid.
   */
  received: number | null;
  /** The timeline of its last restartpoint (`pg_control_checkpoint()`), or null when unread. */
  checkpoint: number | null;
}

/**
 * followedTimeline is the timeline a replica follows, or null when the probe cannot tell.
 *
 *   1. a receiver that shows its timeline: that one (the WAL it streams now)
 *   2. a receiver whose details are hidden (no pg_read_all_stats): unknown
 *   3. no receiver (its upstream gone, or none configured): its last restartpoint's timeline, which
 *      it replays on or past; nothing new arrives to move it to another
 */
export function followedTimeline(reading: ReplicaTimelineReading): number | null {
  if (reading.received !== null) return reading.received;
  if (reading.receiverRunning) return null;
  return reading.checkpoint;
}

/**
 * onOtherTimeline: does a replica follow another timeline than the one the primary writes on? Unknown
 * on either side is "no" (compared by LSN as before). A replica still receiving the old timeline's
 * WAL below the fork counts as other too: it lacks everything the new primary wrote, so it has no
 * reads to lose until it switches.
 */
export function onOtherTimeline(primary: number | null, replica: number | null): boolean {
  return primary !== null && replica !== null && primary !== replica;
}
