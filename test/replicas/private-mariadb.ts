import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql, { type Pool } from 'mysql2/promise';

const run = promisify(execFile);
const script = join(import.meta.dirname, '..', '..', 'scripts', 'services', 'mariadb-replica.sh');

/** A MariaDB primary and replica of one test file's own, in a folder of its own that down() removes. */
export interface PrivateMariadbPair {
  /** The environment mariadb-replica.sh reads: this pair's ports and folder. */
  readonly env: NodeJS.ProcessEnv;
  /** run runs `mariadb-replica.sh ARGS` on this pair (`up`, `stop-replica PORT`…). */
  run(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<void>;
  /** down stops both servers, waiting until they are gone, and deletes the folder. */
  down(): Promise<void>;
}

/**
 * privateMariadbPair makes the folder for a pair on `primaryPort`/`replicaPort` (or several replica
 * ports); `run(['up'])`
 * creates and starts it. The folder is under /tmp itself, readable by the mysql user the servers
 * run as (the test run's TMPDIR is not), and the servers get TMPDIR=/tmp: they outlive that folder.
 */
export async function privateMariadbPair(
  name: string,
  primaryPort: number,
  replicaPort: number | readonly number[],
): Promise<PrivateMariadbPair> {
  const dir = await mkdtemp(`/tmp/replicas-${name}-`);
  await chmod(dir, 0o755);
  const env = {
    ...process.env,
    SCALEPLANE_MARIADB_PRIMARY_PORT: String(primaryPort),
    // More than one replica: a failover has one to promote and one to repoint.
    SCALEPLANE_MARIADB_REPLICA_PORTS:
      typeof replicaPort === 'number' ? String(replicaPort) : replicaPort.join(' '),
    SCALEPLANE_MARIADB_DIR: join(dir, 'mariadb'),
    TMPDIR: '/tmp',
  };
  return {
    env,
    async run(args, extraEnv = {}) {
      // `up` initialises two data directories: up to a minute each beside a loaded CI run.
      await run('bash', [script, ...args], { env: { ...env, ...extraEnv }, timeout: 180_000 });
    },
    async down() {
      // `down` waits for each server to exit (up to 30 s, then SIGKILL). It waited 10 s and then
      // deleted the folder under a server that could still be writing there, so this rm could fail
      // ENOTEMPTY under load: the likely cause of a CI run where failover.test's after hook failed.
      await run('bash', [script, 'down'], { env, timeout: 120_000 }).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * mariadbPool opens a small pool on a private server's scaleplane_test: as `scaleplane` (no SUPER,
 * so read_only binds it) or as `root`.
 */
export function mariadbPool(port: number, user: 'scaleplane' | 'root'): Pool {
  return mysql.createPool({
    host: '127.0.0.1',
    port,
    user,
    password: user === 'root' ? '' : 'scaleplane',
    database: 'scaleplane_test',
    connectionLimit: 4,
  });
}
