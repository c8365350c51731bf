/**
 * Telling the same primary from another one, pure. A session's write position (a PostgreSQL LSN, a
 * MariaDB/MySQL GTID) compares with replicas only on the history it was taken on: the server that
 * gave it, its history not rewound. A primary that comes back after an outage as the same server
 * keeps that history; a promoted replica (a new PostgreSQL timeline, another server_id / server_uuid)
 * or a server restored from a backup does not.
 */

/** PrimarySighting is what one look at the primary showed: which server, at which position. */
export interface PrimarySighting {
  /** The driver's name for the server (ProbeRound `primary.server`), or null when unknown. */
  server: string | null;
  /** Its write position then, or null. */
  position: string | null;
}

/** Covers: does a server at `replayed` have everything up to `write`? (ReplicaDriver.covers) */
export type Covers = (replayed: string, write: string) => boolean;

/**
 * samePrimary: is `now` the server `before` saw, with nothing `before` saw rewound? Unknown on either
 * side is "no": a change the router cannot rule out is treated as one, as before identities were read.
 * A position gone backwards on the same server (a primary restored from a backup under the same
 * server_id, a binlog tail lost in a crash) is another history too.
 */
export function samePrimary(before: PrimarySighting | null, now: PrimarySighting, covers: Covers): boolean {
  if (before === null || before.server === null || now.server === null) return false;
  if (before.server !== now.server) return false;
  if (before.position === null || now.position === null) return true;
  try {
    return covers(now.position, before.position);
  } catch {
    // A position the driver cannot parse says nothing either way: counted as a change.
    return false;
  }
}

/**
 * otherPrimary: `now` names a known server other than `before`'s, or `before`'s with its history
 * rewound. Unknown on either side is "no": between two rounds that both reached a writable primary,
 * the router only acts on a difference it has seen (a driver that names no server changes nothing).
 */
export function otherPrimary(before: PrimarySighting | null, now: PrimarySighting, covers: Covers): boolean {
  if (before === null || before.server === null || now.server === null) return false;
  return !samePrimary(before, now, covers);
}
