// Acceptance: with a lease, one event is one notification. Two whole Scaleplanes in this process on
// one config with a Redis lease (leader + standby) and a webhook receiver. The standby's balancer
// health-checks the leader's instance too, so both see it fail: only the leader may notify. Then
// the leader steps down while the alert still fires: the new leader sends it once (it cannot know
// whether the old one did) and, once the instance passes again, its one resolve.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { alertKeys } from '../../src/alerts/index.js';
import type { Scaleplane } from '../../src/app.js';
import { startReceiver } from '../alerts/receiver.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { dropRedisState, REDIS_URL } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';

/** The instance: /healthz answers 503 while the flag file exists, 200 otherwise. */
const APP = `
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
const flag = process.env.SICK_FLAG;
const server = createServer((req, res) => {
  const sick = req.url === '/healthz' && existsSync(flag);
  res.writeHead(sick ? 503 : 200).end(sick ? 'sick' : 'ok');
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** leads reads the controller's `scaleplane_leader` gauge. */
async function leads(app: Scaleplane): Promise<boolean> {
  const gauge = await app.metrics.registry.getSingleMetric('scaleplane_leader')!.get();
  return gauge.values[0]?.value === 1;
}

describe('alerts with two controllers (Redis lease): only the leader notifies', () => {
  const name = `ha_alerts_${randomBytes(3).toString('hex')}`;
  const apps: Scaleplane[] = [];
  let dir = '';
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;

  after(async () => {
    // Closing hands the instance over (left running): stop its process group ourselves.
    // Recorded now, while their controllers still list them: closed, the apps forget them.
    const groups = new KnownGroups();
    for (const a of apps)
      for (const i of a.providers.get('web')?.instances() ?? []) if (i.pid) groups.add(i.pid);
    await Promise.all(apps.map((a) => a.close()));
    groups.killAll('SIGKILL');
    await receiver?.close();
    await dropRedisState(name);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a failed health check is notified once, not once per controller; a takeover re-sends it once', async () => {
    receiver = await startReceiver();
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-ha-alerts-'));
    const flag = join(dir, 'sick');
    await writeFile(join(dir, 'app.mjs'), APP);
    const yaml = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 200ms, timeout: 500ms, replace_after: 0 }
controller:
  lease: { backend: redis, url: "${REDIS_URL}", ttl: 3000ms, name: ${name} }
alerts:
  sinks:
    - webhook: { url: "${receiver.url}", retries: 0 }
groups:
  web:
    command: exec "${process.execPath}" app.mjs
    env: { SICK_FLAG: "${flag}" }
    min_instances: 1
    max_instances: 1
`;
    const leader = await startInProcess(yaml, dir);
    apps.push(leader);
    const standby = await startInProcess(yaml, dir);
    apps.push(standby);
    assert.equal(await leads(leader), true);
    assert.equal(await leads(standby), false);
    const [instance] = leader.providers.get('web')!.instances();
    assert.ok(instance, 'the leader runs one instance');
    // The standby routes to the leader's instance once it passed a check there.
    await until(
      () => standby.balancer.stats('web').backends.some((b) => b.id === instance.id && b.healthy),
      10_000,
      "the standby's balancer routing to the leader's instance",
    );

    const key = alertKeys.unhealthy('web', instance.id);
    const bodies = () => receiver!.json().filter((b) => b.key === key);
    const count = (status: string) => bodies().filter((b) => b.status === status).length;

    // The event: the instance fails its health check, seen by both balancers.
    await writeFile(flag, '');
    await until(
      () => leader.alerts.isFiring(key) && standby.alerts.isFiring(key),
      10_000,
      `${key} firing on both controllers`,
    );
    await Promise.all([leader.alerts.flush(), standby.alerts.flush()]);
    assert.equal(count('firing'), 1, `firings of ${key}: ${JSON.stringify(bodies())}`);

    // Takeover while it still fires: the old leader sends nothing more, the new one sends it once.
    await leader.close();
    await until(() => leads(standby), 10_000, 'the standby leading');
    await receiver.waitFor(2, 10_000);
    await standby.alerts.flush();
    assert.equal(count('firing'), 2, `firings of ${key}: ${JSON.stringify(bodies())}`);

    // It passes again (or, replaced, is gone): one resolve, from the new leader.
    await unlink(flag);
    await until(() => !standby.alerts.isFiring(key), 10_000, `${key} resolved`);
    await standby.alerts.flush();
    assert.equal(count('resolved'), 1, `resolves of ${key}: ${JSON.stringify(bodies())}`);
    assert.equal(count('firing'), 2);
  });
});
