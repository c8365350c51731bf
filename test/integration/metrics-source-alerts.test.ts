// The metric-source alert of a group with two metrics of one type, against the real Redis
// (127.0.0.1:6379): each metric has its own alert, so one recovering does not clear the other's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Scaleplane } from '../../src/app.js';
import { poll } from '../helpers/prometheus.js';
import { startInProcess } from '../helpers/scaleplane.js';

const REDIS = 'redis://127.0.0.1:6379';

describe('metric-source alerts', () => {
  const redis = new Redis(REDIS);
  const prefix = `scaleplane-test-${randomUUID().slice(0, 8)}`;
  const a = `${prefix}:a`;
  const b = `${prefix}:b`;
  let app: Scaleplane | undefined;
  after(async () => {
    await app?.close();
    await redis.del(a, b);
    redis.disconnect();
  });

  it('two metrics of one type: one recovering leaves the other still failing alerted', async () => {
    // Neither key is a list or a stream: both reads fail.
    await redis.set(a, 'not a list');
    await redis.set(b, 'not a list');
    app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
controller: { interval: 500ms }
groups:
  workers:
    role: worker
    command: node -e "setInterval(() => {}, 1000)"
    min_instances: 0
    max_instances: 1
    scaling:
      metrics:
        - redis: { url: "${REDIS}", key: "${a}", target: 10 }
        - redis: { url: "${REDIS}", key: "${b}", target: 10 }
`);
    const alerts = app.alerts;
    const sourceAlerts = () => alerts.active().filter((x) => x.key.startsWith('metric-source:workers:'));
    // Both failures were reported: two alerts, or (before the fix) one alert raised twice.
    const reported = () => sourceAlerts().reduce((sum, x) => sum + x.occurrences, 0);
    await poll(async () => reported() >= 2, 10_000, 'both sources reported failing');

    // The second metric recovers (no key: empty); the first still fails. Before, both shared the
    // key metric-source:workers:redis and this resolved it: nothing fired while the first failed.
    await redis.del(b);
    await poll(async () => reported() < 2, 10_000, "the second metric's recovery");
    const still = sourceAlerts();
    assert.deepEqual(
      still.map((x) => x.key),
      ['metric-source:workers:redis'],
      'the first metric still fails, and its alert still fires',
    );
    assert.match(still[0]!.summary, new RegExp(`redis ${a}: key ${a} is a string`));

    // The second failing again is an alert of its own, named apart.
    await redis.set(b, 'not a list');
    await poll(async () => sourceAlerts().length === 2, 10_000, 'two metric-source alerts');
    assert.deepEqual(
      sourceAlerts()
        .map((x) => x.key)
        .sort(),
      ['metric-source:workers:redis', 'metric-source:workers:redis#2'],
    );
    assert.match(alerts.active().find((x) => x.key.endsWith('#2'))!.summary, /^metric redis#2 of group/);

    await redis.del(b);
    await redis.del(a);
    await poll(async () => sourceAlerts().length === 0, 10_000, 'every metric-source alert resolved');
  });
});
