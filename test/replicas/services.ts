import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ReplicaDecision, ReplicaRouter } from '../../src/replicas/index.js';

const run = promisify(execFile);
const scripts = join(import.meta.dirname, '..', '..', 'scripts', 'services');

/** PG_PRIMARY_PORT and PG_REPLICA_PORT are the spare ports the replica tests use (never 5432). */
export const PG_PRIMARY_PORT = 5441;
export const PG_REPLICA_PORT = 5442;
/** MARIADB_PRIMARY_PORT and MARIADB_REPLICA_PORT are the spare MariaDB ports (never 3306). */
export const MARIADB_PRIMARY_PORT = 3341;
export const MARIADB_REPLICA_PORT = 3342;

/**
 * STEADY_* are a second primary/replica pair of each kind that no test stops, freezes or pauses, for
 * files that only need replication to work: postgres.test.ts and mariadb.test.ts crash the first
 * pair, and the runner may run another file beside them.
 */
export const PG_STEADY_PRIMARY_PORT = 5443;
export const PG_STEADY_REPLICA_PORT = 5444;
export const MARIADB_STEADY_PRIMARY_PORT = 3343;
export const MARIADB_STEADY_REPLICA_PORT = 3344;

async function script(name: string, args: string[], env: Record<string, string>): Promise<void> {
  // One script at a time per pair: two files creating the same pair at once on a fresh machine
  // raced (a MariaDB primary came up without its `test` database, failing 5 tests of another file).
  // --close: the servers a script starts must not inherit the lock, or it is held while they run
  // and the next script of the pair waits for ever (a fresh run's replica files hung 300 s).
  const pair = env.SCALEPLANE_PG_PRIMARY_PORT ?? env.SCALEPLANE_MARIADB_PRIMARY_PORT ?? 'default';
  const lock = `/tmp/scaleplane-${name.replace(/\.sh$/, '')}-${pair}.lock`;
  await run('flock', ['--close', lock, 'bash', join(scripts, name), ...args], {
    // The servers outlive the test run, whose TMPDIR is removed at its end: a MariaDB replica restarted
    // by a test kept that folder as its tmpdir, and every later query needing a temporary file there
    // (information_schema, large sorts) failed with "Can't create/write to file".
    env: { ...process.env, ...env, TMPDIR: '/tmp' },
    timeout: 180_000,
    maxBuffer: 4 * 1024 * 1024,
  });
}

/**
 * PG_BUSY_* are a pair only primary-busy.test.ts uses: it takes every connection slot of the primary
 * and pauses the replica, which would break any other file using that pair at the same time.
 */
export const PG_BUSY_PRIMARY_PORT = 5445;
export const PG_BUSY_REPLICA_PORT = 5446;

/** ensureBusyPostgresReplication creates or starts primary-busy.test.ts's own pair (idempotent). */
export function ensureBusyPostgresReplication(): Promise<void> {
  return script('postgres-replica.sh', ['up'], {
    SCALEPLANE_PG_PRIMARY_PORT: String(PG_BUSY_PRIMARY_PORT),
    SCALEPLANE_PG_REPLICA_PORTS: String(PG_BUSY_REPLICA_PORT),
  });
}

/** MARIADB_DELAYED_* are a pair only first-round.test.ts uses: it sets MASTER_DELAY on the replica. */
export const MARIADB_DELAYED_PRIMARY_PORT = 3345;
export const MARIADB_DELAYED_REPLICA_PORT = 3346;

/** ensureDelayedMariadbReplication creates or starts first-round.test.ts's own pair (idempotent). */
export function ensureDelayedMariadbReplication(): Promise<void> {
  return script('mariadb-replica.sh', ['up'], {
    SCALEPLANE_MARIADB_PRIMARY_PORT: String(MARIADB_DELAYED_PRIMARY_PORT),
    SCALEPLANE_MARIADB_REPLICA_PORTS: String(MARIADB_DELAYED_REPLICA_PORT),
  });
}

const pgEnv = {
  SCALEPLANE_PG_PRIMARY_PORT: String(PG_PRIMARY_PORT),
  SCALEPLANE_PG_REPLICA_PORTS: String(PG_REPLICA_PORT),
};
const mariadbEnv = {
  SCALEPLANE_MARIADB_PRIMARY_PORT: String(MARIADB_PRIMARY_PORT),
  SCALEPLANE_MARIADB_REPLICA_PORTS: String(MARIADB_REPLICA_PORT),
};

/** ensureSteadyPostgresReplication creates or starts the steady PostgreSQL pair (idempotent). */
export function ensureSteadyPostgresReplication(): Promise<void> {
  return script('postgres-replica.sh', ['up'], {
    SCALEPLANE_PG_PRIMARY_PORT: String(PG_STEADY_PRIMARY_PORT),
    SCALEPLANE_PG_REPLICA_PORTS: String(PG_STEADY_REPLICA_PORT),
  });
}

/** ensureSteadyMariadbReplication creates or starts the steady MariaDB pair (idempotent). */
export function ensureSteadyMariadbReplication(): Promise<void> {
  return script('mariadb-replica.sh', ['up'], {
    SCALEPLANE_MARIADB_PRIMARY_PORT: String(MARIADB_STEADY_PRIMARY_PORT),
    SCALEPLANE_MARIADB_REPLICA_PORTS: String(MARIADB_STEADY_REPLICA_PORT),
  });
}

/** ensurePostgresReplication creates or starts the PostgreSQL primary and replica (idempotent). */
export function ensurePostgresReplication(): Promise<void> {
  return script('postgres-replica.sh', ['up'], pgEnv);
}

/** stopPostgresReplica crashes the replica server (pg_ctl -m immediate). */
export function stopPostgresReplica(): Promise<void> {
  return script('postgres-replica.sh', ['stop-replica', String(PG_REPLICA_PORT)], pgEnv);
}

/** startPostgresReplica starts the replica server again. */
export function startPostgresReplica(): Promise<void> {
  return script('postgres-replica.sh', ['start-replica', String(PG_REPLICA_PORT)], pgEnv);
}

/** stopPostgresPrimary crashes the test primary on PG_PRIMARY_PORT (pg_ctl -m immediate); never 5432. */
export function stopPostgresPrimary(): Promise<void> {
  return script('postgres-replica.sh', ['stop-primary'], pgEnv);
}

/** startPostgresPrimary starts the test primary again. */
export function startPostgresPrimary(): Promise<void> {
  return script('postgres-replica.sh', ['start-primary'], pgEnv);
}

/** freezePostgresReplica stops the replica's processes with SIGSTOP: connections stay open, nothing answers. */
export function freezePostgresReplica(): Promise<void> {
  return script('postgres-replica.sh', ['freeze-replica', String(PG_REPLICA_PORT)], pgEnv);
}

/** thawPostgresReplica resumes a frozen replica (SIGCONT). */
export function thawPostgresReplica(): Promise<void> {
  return script('postgres-replica.sh', ['thaw-replica', String(PG_REPLICA_PORT)], pgEnv);
}

/** ensureMariadbReplication creates or starts the MariaDB primary and replica (idempotent). */
export function ensureMariadbReplication(): Promise<void> {
  return script('mariadb-replica.sh', ['up'], mariadbEnv);
}

/** stopMariadbReplica kills the replica server with SIGKILL. */
export function stopMariadbReplica(): Promise<void> {
  return script('mariadb-replica.sh', ['stop-replica', String(MARIADB_REPLICA_PORT)], mariadbEnv);
}

/** startMariadbReplica starts the replica server again and resumes replication. */
export function startMariadbReplica(): Promise<void> {
  return script('mariadb-replica.sh', ['start-replica', String(MARIADB_REPLICA_PORT)], mariadbEnv);
}

/** stopMariadbPrimary kills the test primary on MARIADB_PRIMARY_PORT with SIGKILL; never 3306. */
export function stopMariadbPrimary(): Promise<void> {
  return script('mariadb-replica.sh', ['stop-primary'], mariadbEnv);
}

/** startMariadbPrimary starts the test primary again; the replica reconnects by itself (MASTER_CONNECT_RETRY=1). */
export function startMariadbPrimary(): Promise<void> {
  return script('mariadb-replica.sh', ['start-primary'], mariadbEnv);
}

/**
 * nextDecision resolves with the router's next matching 'decision' event. Call it before causing the
 * decision: it listens from the moment it is called. (Not events.on(): that iterator also throws the
 * router's 'error' events, which a killed replica legitimately causes.)
 */
export function nextDecision<R>(
  router: ReplicaRouter<R>,
  match: (decision: ReplicaDecision) => boolean,
  timeoutMs = 30_000,
): Promise<ReplicaDecision> {
  return new Promise((resolve, reject) => {
    const listener = (decision: ReplicaDecision) => {
      if (!match(decision)) return;
      clearTimeout(timer);
      router.off('decision', listener);
      resolve(decision);
    };
    const timer = setTimeout(() => {
      router.off('decision', listener);
      reject(new Error(`no matching decision within ${timeoutMs} ms`));
    }, timeoutMs);
    router.on('decision', listener);
  });
}

/** recordDecisions collects the router's decisions from now until the returned function is called. */
export function recordDecisions<R>(router: ReplicaRouter<R>): () => ReplicaDecision[] {
  const seen: ReplicaDecision[] = [];
  const listener = (decision: ReplicaDecision) => seen.push(decision);
  router.on('decision', listener);
  return () => {
    router.off('decision', listener);
    return seen;
  };
}

/**
 * assertFreshReadsOnReplica: a read made before a session's first write belongs on a replica. A
 * replica excluded for a moment (a probe round past its timeout on a loaded machine) rightly sends
 * reads to the primary meanwhile, so some may go there, but never without a decision saying why: an
 * exclusion, a fallback, or a retried read.
 */
export function assertFreshReadsOnReplica(
  onReplica: number,
  tries: number,
  decisions: readonly ReplicaDecision[],
): void {
  const onPrimary = tries - onReplica;
  if (onPrimary === 0) return;
  const said = decisions.map((d) => `${d.kind} ${d.replica ?? ''} [${d.reasons.join(', ')}]`).join('; ');
  console.log(
    `  ${onPrimary}/${tries} reads before any write went to the primary; decisions meanwhile: ${said}`,
  );
  const why = decisions.filter((d) => ['ReplicaExcluded', 'FallbackStarted', 'ReadRetried'].includes(d.kind));
  assert.ok(
    why.length > 0,
    `${onPrimary} of ${tries} reads before any write went to the primary, and the router said no reason (decisions: ${said || 'none'})`,
  );
}
