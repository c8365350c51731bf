// What a replica pool's own failures teach the router, against the steady PostgreSQL pair
// (5443/5444): a checkout that timed out because every pooled connection was busy is no
// unreachable server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createPgRouter, type ReplicaDecision, type ReplicaRouter } from '../../src/replicas/index.js';
import type { PgResult } from '../../src/replicas/postgres/index.js';
import {
  ensureSteadyPostgresReplication,
  PG_STEADY_PRIMARY_PORT,
  PG_STEADY_REPLICA_PORT,
} from './services.js';

describe('PostgreSQL: a busy replica pool', { timeout: 120_000 }, () => {
  let primary: pg.Pool;
  let replica: pg.Pool;
  let db: ReplicaRouter<PgResult>;
  const decisions: ReplicaDecision[] = [];

  before(async () => {
    await ensureSteadyPostgresReplication();
    primary = new pg.Pool({
      host: '127.0.0.1',
      port: PG_STEADY_PRIMARY_PORT,
      user: 'postgres',
      database: 'postgres',
    });
    // One connection, and a checkout may wait 50 ms: the second concurrent read gives up waiting.
    replica = new pg.Pool({
      host: '127.0.0.1',
      port: PG_STEADY_REPLICA_PORT,
      user: 'postgres',
      database: 'postgres',
      max: 1,
      connectionTimeoutMillis: 50,
    });
    db = createPgRouter({ primary, replicas: { r1: replica }, name: 'pools-pg' });
    db.on('error', () => {});
    db.on('decision', (decision) => decisions.push(decision));
    await db.start();
    assert.equal(db.status()[0]?.eligible, true);
  });

  after(async () => {
    await db?.close();
    await Promise.all([primary?.end(), replica?.end()]);
  });

  it('a checkout timeout retries that read elsewhere; the replica and the reads running there stay', async () => {
    const port = (result: PgResult) => Number(result.rows[0]?.port);
    const slow = db.query('SELECT pg_sleep(0.3), inet_server_port() AS port');
    const queued = db.query('SELECT inet_server_port() AS port');
    assert.equal(
      port(await queued),
      PG_STEADY_PRIMARY_PORT,
      'the read that found the pool busy ran on the primary',
    );
    // Before: the replica was excluded as Unreachable, and the read running there was abandoned and
    // run again on the primary (0.56 s instead of 0.3 s).
    assert.equal(port(await slow), PG_STEADY_REPLICA_PORT, 'the read running on the replica finished there');
    await db.probeNow();
    assert.equal(db.status()[0]?.eligible, true, `r1 stays eligible (${db.status()[0]?.reason})`);
    assert.deepEqual(
      decisions.filter((d) => d.kind === 'ReplicaExcluded').map((d) => d.reasons),
      [],
    );
    assert.equal(port(await db.query('SELECT inet_server_port() AS port')), PG_STEADY_REPLICA_PORT);
  });
});
