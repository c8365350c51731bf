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

/** mariadbCovers: has a replica at `replayed` applied every domain of `write`? */
export function mariadbCovers(replayed: string, write: string): boolean {
  const have = parseMariadbPosition(replayed);
  for (const [domain, seq] of parseMariadbPosition(write)) {
    const applied = have.get(domain);
    if (applied === undefined || applied < seq) return false;
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

/** gtidCovers picks the comparison for a flavour. */
export function gtidCovers(flavor: MysqlFlavor, replayed: string, write: string): boolean {
  return flavor === 'mariadb' ? mariadbCovers(replayed, write) : mysqlCovers(replayed, write);
}
