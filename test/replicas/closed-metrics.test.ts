// A closed router leaves no gauge behind. Its lag, eligible and fallback_active series describe a
// router that runs; left on the registry, a router closed with no replica eligible read
// scaleplane_replica_fallback_active 1, the series to alert on, for the life of the process. Here
// the shared PostgreSQL (5432) is given as its own replica: not in recovery, never eligible.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createPgRouter } from '../../src/replicas/index.js';

/** gauges lists the router's gauge series on the /metrics text. */
async function gauges(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((l) => /^scaleplane_replica_(lag_seconds|eligible|fallback_active|role_mismatch)\{/.test(l));
}

test('a closed router removes its lag, eligible and fallback_active series, keeps its counters', async (t) => {
  const pool = () => new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  const primary = pool();
  const replica = pool();
  t.after(() => Promise.all([primary.end(), replica.end()]));
  const registry = new Registry();
  const db = createPgRouter({ primary, replicas: { r1: replica }, registry, name: 'closing' });
  t.after(() => db.close());
  await db.start();
  await db.query('SELECT 1');
  assert.ok(
    (await gauges(registry)).includes('scaleplane_replica_fallback_active{router="closing"} 1'),
    `no replica eligible while it runs: ${await gauges(registry)}`,
  );

  await db.close();
  assert.deepEqual(await gauges(registry), [], 'a closed router must not read fallback_active 1 for ever');
  assert.match(
    await registry.metrics(),
    /^scaleplane_replica_reads_total\{router="closing",target="primary"\} 1$/m,
    'its counters stay',
  );
});
