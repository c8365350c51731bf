// A pid file a crashed mariadbd left names a pid the kernel may have given to another process since
// (pid_max is 32768 on these machines, and a test run starts thousands of processes).
// mariadb-replica.sh took such a process for the running server: `up` skipped starting the replica
// (every later connection refused), and `down` sent the stranger SIGTERM, then SIGKILL. A private
// pair (3397/3398, own folder, removed after); a `sleep` leading its own session stands in for the
// process that got the pid.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { type PrivateMariadbPair, privateMariadbPair } from './private-mariadb.js';

const PRIMARY_PORT = 3397;
const REPLICA_PORT = 3398;

/** mysqlIds are the uid and gid of the mysql user the servers run as: the pid file is theirs. */
function mysqlIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'mysql'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Up to 180 s for each `up` on a loaded machine, and up to 120 s for `down`.
describe('mariadb-replica.sh with a stale pid file', { timeout: 600_000 }, () => {
  let pair: PrivateMariadbPair | undefined;
  let stranger: ChildProcess | undefined;

  before(async () => {
    pair = await privateMariadbPair('stale-pid', PRIMARY_PORT, REPLICA_PORT);
    await pair.run(['up']);
    stranger = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    await new Promise((resolve) => stranger!.once('spawn', resolve));
  });

  /** crashReplica kills the replica and leaves its pid file naming the stranger's pid. */
  async function crashReplica(): Promise<void> {
    await pair!.run(['stop-replica', String(REPLICA_PORT)]);
    const pidFile = join(pair!.env.SCALEPLANE_MARIADB_DIR!, String(REPLICA_PORT), 'mysqld.pid');
    await writeFile(pidFile, `${stranger!.pid}\n`);
    const { uid, gid } = mysqlIds();
    await chown(pidFile, uid, gid);
  }

  after(async () => {
    stranger?.kill('SIGKILL');
    await pair?.down();
  });

  it('up starts the replica a stale pid file names as running; up and down leave that pid alone', async () => {
    await crashReplica();
    await pair!.run(['up']);
    assert.ok(alive(stranger!.pid!), 'up left the process that has the pid alone');
    const replica = await mysql.createConnection({ host: '127.0.0.1', port: REPLICA_PORT, user: 'root' });
    try {
      const [rows] = await replica.query('SELECT @@server_id AS id');
      assert.equal((rows as { id: number }[])[0]?.id, REPLICA_PORT, 'the replica answers on its port');
    } finally {
      await replica.end();
    }
    await crashReplica();
    await pair!.run(['down']);
    assert.ok(alive(stranger!.pid!), 'down left the process that has the pid alone');
  });
});
