/**
 * Ages by the primary's clock. A lag measured as "the replica's clock minus a time the primary
 * stamped" (PostgreSQL's replay timestamp, a MariaDB heartbeat) is off by the skew between the two
 * hosts, and a replica whose clock runs behind looked fresh while it lagged. The primary's clock,
 * read in each probe round and carried forward on the router's monotonic clock, stamped both ends.
 */

/**
 * PrimaryClock is one reading of the primary's clock (ms since the epoch) and the router's monotonic
 * time (performance.now()) just before it was asked.
 */
export interface PrimaryClock {
  clock: number;
  at: number;
}

/**
 * ageByPrimaryClock is how old `timestamp` (ms since the epoch, stamped by the primary: a commit) is
 * at router time `readAt`, by the primary's clock carried forward on the router's monotonic one. An
 * upper bound: the clock was read after `at`. Clock skew between hosts does not enter it; only the
 * primary's clock stamped both. Null when there is no timestamp.
 */
export function ageByPrimaryClock(
  primary: PrimaryClock,
  timestamp: number | null,
  readAt: number,
): number | null {
  if (timestamp === null) return null;
  return primary.clock + (readAt - primary.at) - timestamp;
}
