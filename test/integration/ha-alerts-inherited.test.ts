// Acceptance: an alert only the leader evaluates, sent by a leader that then goes, is resolved by
// its successor once it no longer holds. Two whole Scaleplanes in this process on one config with
// a Redis lease (leader + standby) and a webhook receiver. The leader's group crash-loops (its
// command exits at once): only the leader starts instances, so only it fires `crash-loop:web`.
// The command is fixed and the leader steps down while its replacing is paused. Before, the new
// leader started a healthy instance but had never seen the alert fire, so it sent no resolve and
// the receiver showed the group crash-looping for good.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { alertKeys } from '../../src/alerts/index.js';
import type { Scaleplane } from '../../src/app.js';
import { startReceiver } from '../alerts/receiver.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';
import { dropRedisState, REDIS_URL } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';

const APP = resolve(import.meta.dirname, '../fixtures/provider-app.mjs');

async function leads(app: Scaleplane): Promise<boolean> {
  const gauge = await app.metrics.registry.getSingleMetric('scaleplane_leader')!.get();
  return gauge.values[0]?.value === 1;
}

describe('an alert the old leader left open (Redis lease)', () => {
  const name = `ha_inherit_${randomBytes(3).toString('hex')}`;
  const apps: Scaleplane[] = [];
  const redis = new Redis(REDIS_URL);
  let dir = '';
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;

  after(async () => {
    // Recorded now, while their controllers still list them: closed, the apps forget them.
    const groups = new KnownGroups();
    for (const a of apps)
      for (const i of a.providers.get('web')?.instances() ?? []) if (i.pid) groups.add(i.pid);
    await Promise.all(apps.map((a) => a.close()));
    groups.killAll('SIGKILL');
    await receiver?.close();
    await redis.quit();
    await dropRedisState(name);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('crash-loop fired by the leader is resolved by its successor once the group is healthy', async () => {
    receiver = await startReceiver();
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-ha-inherit-'));
    const flag = join(dir, 'fixed');
    const yaml = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 200ms, timeout: 500ms }
controller:
  lease: { backend: redis, url: "${REDIS_URL}", ttl: 3000ms, name: ${name} }
alerts:
  sinks:
    - webhook: { url: "${receiver.url}", retries: 0 }
groups:
  web:
    command: test -e "${flag}" || exit 1; exec "${process.execPath}" "${APP}"
    min_instances: 1
    max_instances: 1
    crash_loop: { limit: 2, window: 60s }
`;
    const leader = await startInProcess(yaml, dir);
    apps.push(leader);
    const standby = await startInProcess(yaml, dir);
    apps.push(standby);
    assert.equal(await leads(leader), true);
    assert.equal(await leads(standby), false);

    const key = alertKeys.crashLoop('web');
    const statuses = () =>
      receiver!
        .json()
        .filter((b) => b.key === key)
        .map((b) => b.status);
    await until(() => statuses().includes('firing'), 30_000, `${key} sent by the leader`);
    assert.equal(standby.alerts.isFiring(key), false, 'the standby starts nothing: it never sees the loop');
    // The leader keeps what the receiver shows firing in the state store.
    await until(
      async () => (await redis.hexists(`${name}:state:alerts`, key)) === 1,
      10_000,
      `${key} kept in the state store`,
    );

    // The command is fixed; the leader (its replacing paused for 5 minutes) steps down.
    await writeFile(flag, '');
    await leader.close();
    await until(() => leads(standby), 10_000, 'the standby leading');
    await settled(standby, 'web', 1, 30_000);

    await until(() => statuses().includes('resolved'), 10_000, `${key} resolved by the new leader`);
    await standby.alerts.flush();
    assert.deepEqual(statuses(), ['firing', 'resolved']);
    assert.equal(standby.alerts.isFiring(key), false);
    await until(
      async () => (await redis.hexists(`${name}:state:alerts`, key)) === 0,
      10_000,
      `${key} removed from the state store`,
    );
  });
});
