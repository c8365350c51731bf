// A Redis that lost the lease and the state (a restart without persistence, a failover to a
// replica that lacked them): the leader's renewal finds no lease, it stands down and hands its
// instances over, then wins the lease again. Its instances are recorded nowhere any more; it must
// take them back (and record them again for the next leader), not start new ones beside them and
// leave the old ones running unmanaged for good.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import { RedisState } from '../../src/controller/state/index.js';
import { processGroupMembers, UpProcess } from '../helpers/cli-process.js';
import { controlApi, logMsg, recordStarted, startedPids } from '../helpers/ha.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const TOKEN = 'ha-store-lost-token';
const { untilReady } = controlApi(TOKEN);

describe('a Redis that lost the lease and the state under the leader', () => {
  it('the leader takes its own instances back when it wins again, and records them again', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const configPath = await writeTempConfig(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
controller:
  lease: { backend: redis, url: "${server.url}", ttl: 3000ms, name: lost }
groups:
  web:
    command: node server.js
    cwd: ${DEMO_DIR}
    min_instances: 2
    max_instances: 6
`);
    const up = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    const groups = new KnownGroups();
    recordStarted(up, groups);
    after(async () => {
      up.child.kill('SIGKILL');
      await up.exited;
      // With a lease, instances outlive the controller by design: the test removes them, those
      // still ours (recorded as they were logged; the ones stopped since may have their pids reused).
      groups.killAll('SIGKILL');
      await server.kill();
      await rm(dirname(configPath), { recursive: true, force: true });
    });
    await up.waitFor(logMsg('group web is up'), 30_000);
    const before = (await untilReady(up, 2, 30_000)).instances.map((i) => i.pid).sort();

    await server.kill();
    await server.start();
    await until(
      () => up.lines.filter(logMsg('group web is up')).length >= 2,
      30_000,
      'the controller leads again with its group up',
    );
    const afterLoss = (await untilReady(up, 2, 30_000)).instances.map((i) => i.pid).sort();
    const started = startedPids(up);
    assert.deepEqual(
      started.filter((pid) => processGroupMembers([pid]).length > 0).sort(),
      before,
      `instances running: ${started.length} started (${started.join(', ')}) for 2 desired; those it released were left unmanaged`,
    );
    assert.deepEqual(afterLoss, before, 'the group manages the instances it ran before the loss');
    const state = new RedisState({ url: server.url, name: 'lost' });
    await state.connect();
    try {
      const recorded = (await state.list('web')).map((r) => r.pid).sort();
      assert.deepEqual(recorded, before, 'the instances are recorded again, for the next leader to adopt');
    } finally {
      await state.close();
    }
  });
});
