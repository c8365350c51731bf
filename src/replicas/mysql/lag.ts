/**
 * MySQL/MariaDB replica lag, pure. The heartbeat row the router writes on the primary each probe round
 * is the measurement (pt-heartbeat style: lag = the replica's clock − the newest heartbeat it applied);
 * SHOW REPLICA/SLAVE STATUS is the fallback when there is no heartbeat yet or it is disabled.
 */

/** ReplicaStatusRow is the part of SHOW REPLICA STATUS / SHOW SLAVE STATUS that matters here. */
export interface ReplicaStatusRow {
  Seconds_Behind_Master?: number | string | null;
  Seconds_Behind_Source?: number | string | null;
  Slave_SQL_Running?: string;
  Replica_SQL_Running?: string;
  Slave_IO_Running?: string;
  Replica_IO_Running?: string;
}

/**
 * lagFromReplicaStatus reads lag in ms from a status row. NULL Seconds_Behind_Master (SQL thread stopped,
 * IO thread disconnected) is unknown, never 0; so are stopped threads and a server that is no replica.
 */
export function lagFromReplicaStatus(row: ReplicaStatusRow | undefined): number | null {
  if (row === undefined) return null;
  const sqlRunning = row.Replica_SQL_Running ?? row.Slave_SQL_Running;
  const ioRunning = row.Replica_IO_Running ?? row.Slave_IO_Running;
  if (sqlRunning !== 'Yes' || ioRunning !== 'Yes') return null;
  const seconds = row.Seconds_Behind_Source ?? row.Seconds_Behind_Master;
  if (seconds === null || seconds === undefined || seconds === '') return null;
  const value = Number(seconds);
  return Number.isFinite(value) && value >= 0 ? value * 1000 : null;
}

/** lagFromHeartbeat turns a heartbeat's age in ms (replica clock − heartbeat time) into a lag. */
export function lagFromHeartbeat(ageMs: number | string | null | undefined): number | null {
  if (ageMs === null || ageMs === undefined) return null;
  const value = Number(ageMs);
  // Clocks a few ms apart can make a fresh heartbeat look younger than zero.
  return Number.isFinite(value) ? Math.max(0, value) : null;
}

/** PositionSample is the primary's GTID position and the router time it was first read. */
export interface PositionSample {
  at: number;
  position: string;
}

/**
 * appendPosition records the primary's position read at `at`: a position already last in `history`
 * keeps its first time (an idle primary), and samples older than `keep` ms go, except the newest of
 * them, so that a replica behind all kept samples is still bounded by the oldest.
 */
export function appendPosition(
  history: readonly PositionSample[],
  sample: PositionSample,
  keep: number,
): PositionSample[] {
  const last = history[history.length - 1];
  const next = last?.position === sample.position ? [...history] : [...history, sample];
  let first = 0;
  while (first + 1 < next.length && next[first + 1]!.at < sample.at - keep) first++;
  return next.slice(first);
}

/**
 * lagBelowFromPositions is a lower bound on a replica's lag in ms: the age of the oldest primary
 * position it has not applied (it lacks a commit the primary had then), else 0. Seconds_Behind_Master
 * only compares the SQL thread with what the IO thread received: a replica whose IO thread hears
 * nothing (a stalled network, a primary's dump thread stuck) applies all it has and reads 0 until
 * slave_net_timeout (60 s by default) ends the connection, however much it misses meanwhile.
 */
export function lagBelowFromPositions(
  history: readonly PositionSample[],
  replayed: string | null,
  covers: (replayed: string, write: string) => boolean,
  now: number,
): number | null {
  if (replayed === null) return null;
  for (const sample of history) if (!covers(replayed, sample.position)) return Math.max(0, now - sample.at);
  return 0;
}
