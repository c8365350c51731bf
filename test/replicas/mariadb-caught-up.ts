import assert from 'node:assert/strict';
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';

/**
 * mariadbCaughtUp waits (up to 30 s) until the MariaDB replica on `replicaPort` has applied every
 * GTID `source` has written (read from `source`'s gtid_binlog_pos). It asks on a connection
 * without a default database: the replica may not have replayed CREATE DATABASE yet (a pool
 * naming it failed "Unknown database" under load).
 */
export async function mariadbCaughtUp(source: Pool, replicaPort: number, what: string): Promise<void> {
  const [[at]] = (await source.query('SELECT @@GLOBAL.gtid_binlog_pos AS pos')) as [RowDataPacket[], unknown];
  const replica = await mysql.createConnection({ host: '127.0.0.1', port: replicaPort, user: 'root' });
  try {
    const [[waited]] = (await replica.query('SELECT MASTER_GTID_WAIT(?, 30) AS w', [at?.pos])) as [
      RowDataPacket[],
      unknown,
    ];
    assert.equal(Number(waited?.w), 0, what);
  } finally {
    await replica.end();
  }
}
