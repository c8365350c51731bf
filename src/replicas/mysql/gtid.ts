/**
 * GTID positions, pure. MariaDB writes a position as `domain-server-seq` per replication domain
 * (`0-1-42,1-2-7`); MySQL as a GTID set of `uuid:interval[:interval]` (`3E11…:1-42:50`).
 */

/** MysqlFlavor is the server family behind a mysql2 pool; their GTIDs differ. */
export type MysqlFlavor = 'mariadb' | 'mysql';

/** parseMariadbPosition maps each domain to its highest sequence number. */
export function parseMariadbPosition(text: string): Map<string, bigint> {
  const domains = new Map<string, bigint>();
  for (const part of text.split(',')) {
    const gtid = part.trim();
    if (gtid === '') continue;
    const match = /^(\d+)-(\d+)-(\d+)$/.exec(gtid);
    if (match === null) throw new RangeError(`not a MariaDB GTID: ${gtid}`);
    const seq = BigInt(match[3]!);
    const current = domains.get(match[1]!);
    if (current === undefined || seq > current) domains.set(match[1]!, seq);
  }
  return domains;
}

/**
 * mariadbCovers: has a replica at `replayed` got as far as `write` in every domain of `write`? By
 * sequence number alone, as MASTER_GTID_WAIT waits and Vitess compares: within a domain the
 * sequence goes on across servers (a promoted replica continues it under its own server_id), so a
 * replica of the new primary at `0-2-110` is past the old primary's `0-1-105`. Blind, as MariaDB is,
 * to histories that forked: `0-1-105` replayed from an old primary nobody fenced is not past the new
 * primary's `0-2-103`, though its number is. For whether a replica has one write, see mariadbHasWrite.
 */
export function mariadbCovers(replayed: string, write: string): boolean {
  const have = parseMariadbPosition(replayed);
  for (const [domain, seq] of parseMariadbPosition(write)) {
    const applied = have.get(domain);
    if (applied === undefined || applied < seq) return false;
  }
  return true;
}

interface MariadbGtid {
  server: string;
  seq: bigint;
}

/** lastGtids maps each domain to its GTID of highest sequence number. */
function lastGtids(text: string): Map<string, MariadbGtid> {
  const domains = new Map<string, MariadbGtid>();
  for (const part of text.split(',')) {
    const gtid = part.trim();
    if (gtid === '') continue;
    const match = /^(\d+)-(\d+)-(\d+)$/.exec(gtid);
    if (match === null) throw new RangeError(`not a MariaDB GTID: ${gtid}`);
    const seq = BigInt(match[3]!);
    const current = domains.get(match[1]!);
    if (current === undefined || seq > current.seq) domains.set(match[1]!, { server: match[2]!, seq });
  }
  return domains;
}

/**
 * mariadbHasWrite: has a replica at `replayed` applied the write that left the primary at `write`?
 * In each domain of `write`, the replica's last GTID must be of the same server, at the same or a
 * higher sequence number. Between a session's write and its read the primary is one server (a
 * change of primary starts a new epoch, where the write is not compared), so what follows the write
 * in its domain is that server's; a replica whose last GTID there is another server's either forked
 * off (still following an old primary: its `0-1-105` is not the new primary's `0-2-103`) or was
 * written after a change no round has seen. Either way it is not known to have the write: checked on
 * the replica, else read from the primary.
 */
export function mariadbHasWrite(replayed: string, write: string): boolean {
  const have = lastGtids(replayed);
  for (const [domain, wanted] of lastGtids(write)) {
    const applied = have.get(domain);
    if (applied === undefined || applied.server !== wanted.server || applied.seq < wanted.seq) return false;
  }
  return true;
}

type Interval = readonly [bigint, bigint];

/** parseMysqlGtidSet maps each source uuid to its transaction intervals. */
export function parseMysqlGtidSet(text: string): Map<string, Interval[]> {
  const sets = new Map<string, Interval[]>();
  for (const part of text.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const [uuid, ...ranges] = entry.split(':');
    if (uuid === undefined || ranges.length === 0) throw new RangeError(`not a MySQL GTID set: ${entry}`);
    const intervals = sets.get(uuid.toLowerCase()) ?? [];
    for (const range of ranges) {
      const match = /^(\d+)(?:-(\d+))?$/.exec(range);
      if (match === null) throw new RangeError(`not a GTID interval: ${range}`);
      const start = BigInt(match[1]!);
      intervals.push([start, match[2] === undefined ? start : BigInt(match[2])]);
    }
    sets.set(uuid.toLowerCase(), intervals);
  }
  return sets;
}

/** mysqlCovers: is the GTID set `write` contained in `replayed`? */
export function mysqlCovers(replayed: string, write: string): boolean {
  const have = parseMysqlGtidSet(replayed);
  for (const [uuid, wanted] of parseMysqlGtidSet(write)) {
    const intervals = mergeIntervals(have.get(uuid) ?? []);
    for (const [start, end] of wanted) {
      if (!intervals.some(([a, b]) => a <= start && end <= b)) return false;
    }
  }
  return true;
}

function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last === undefined || start > last[1] + 1n) merged.push([start, end]);
    else if (end > last[1]) last[1] = end;
  }
  return merged;
}

/** gtidHasWrite picks the read-your-writes comparison for a flavour (MySQL's GTID sets name each server). */
export function gtidHasWrite(flavor: MysqlFlavor, replayed: string, write: string): boolean {
  return flavor === 'mariadb' ? mariadbHasWrite(replayed, write) : mysqlCovers(replayed, write);
}

/** gtidCovers picks the comparison for a flavour. */
export function gtidCovers(flavor: MysqlFlavor, replayed: string, write: string): boolean {
  return flavor === 'mariadb' ? mariadbCovers(replayed, write) : mysqlCovers(replayed, write);
}
