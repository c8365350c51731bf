// A standby's GET /api/scalability/events answers the leader's decisions, read from the state store,
// not its own journal (empty for a standby that never led, the past tenure for a deposed leader).
// Two whole Scaleplanes in this process on one config with a Redis lease (state in the same Redis).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import type { JournalEntry } from '../../src/controller/index.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { INTEGRATION_TOKEN, startInProcess } from '../helpers/scaleplane.js';
import { dropRedisState, REDIS_URL } from '../helpers/shared-stores.js';

const APP = `
import { createServer } from 'node:http';
const server = createServer((req, res) => res.writeHead(200).end('ok'));
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

async function events(
  app: Scaleplane,
  query: string,
): Promise<{ status: number; body: { events?: JournalEntry[] } }> {
  const { host, port } = app.apiAddress!;
  const res = await fetch(`http://${host}:${port}/api/scalability/events?${query}`, {
    headers: { authorization: `Bearer ${INTEGRATION_TOKEN}` },
  });
  return { status: res.status, body: (await res.json()) as { events?: JournalEntry[] } };
}

describe('a standby answers GET /events with the leader journal (Redis lease and state)', () => {
  const name = `ha_standby_events_${randomBytes(3).toString('hex')}`;
  const apps: Scaleplane[] = [];
  let dir = '';

  after(async () => {
    const groups = new KnownGroups();
    for (const a of apps)
      for (const i of a.providers.get('web')?.instances() ?? []) if (i.pid) groups.add(i.pid);
    await Promise.all(apps.map((a) => a.close()));
    groups.killAll('SIGKILL');
    await dropRedisState(name);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("shows the leader's scale, not a journal of its own without it", async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-ha-events-'));
    await writeFile(join(dir, 'app.mjs'), APP);
    const yaml = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 200ms, timeout: 500ms }
controller:
  lease: { backend: redis, url: "${REDIS_URL}", ttl: 3000ms, name: ${name} }
groups:
  web:
    command: exec "${process.execPath}" app.mjs
    min_instances: 1
    max_instances: 3
`;
    const leader = await startInProcess(yaml, dir);
    apps.push(leader);
    const standby = await startInProcess(yaml, dir);
    apps.push(standby);
    const gauge = await standby.metrics.registry.getSingleMetric('scaleplane_leader')!.get();
    assert.equal(gauge.values[0]?.value, 0, 'the second controller stands by');

    const { stored } = leader.controller.scale('web', 'set', 2, 'test');
    await stored.confirm(5_000);
    const leaders = leader.controller.events({ group: 'web' });
    const scaled = leaders.at(-1)!;
    assert.deepEqual([scaled.before, scaled.after, scaled.reasons], [1, 2, ['ManualScale']]);

    const answer = await events(standby, 'group=web');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const seen = (answer.body.events ?? []).map(
      (e) => `${e.seq} ${e.reasons.join(',')} ${e.before}->${e.after}`,
    );
    assert.deepEqual(
      seen,
      leaders.map((e) => `${e.seq} ${e.reasons.join(',')} ${e.before}->${e.after}`),
      `the standby's events are the leader's journal (leader: ${JSON.stringify(leaders.map((e) => e.message))})`,
    );
    // A poller's page after the leader's newest seq is empty, not refused as from another journal.
    const page = await events(standby, `group=web&since=${scaled.seq}`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    assert.deepEqual(page.body.events, []);
  });
});
