// The Redis that records a leader's local instances fails over to a replica that was behind, and the
// leader reaches the promoted replica under the same name (a virtual IP, a DNS name, Sentinel): the
// records of the instances it started just before are gone there, though the writes were answered.
// The leader records them again. Before, nothing wrote them again: no standby routed to them, and a
// successor did not adopt them but left them running unmanaged and started others in their place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisState } from '../../src/controller/state/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until as untilTrue } from '../helpers/until.js';
import { closeBeforeRemoval, makeProvider, tempDir, until } from './local-helpers.js';

describe('local instances recorded in a Redis that fails over to a replica behind', () => {
  it('are recorded again on the promoted replica', async (t) => {
    // First: its hook closes the provider (which removes its records) before the servers go below.
    const dir = await tempDir(t, 'records-failover');
    const primary = new RedisServer(await freePort());
    const replica = new RedisServer(await freePort());
    await Promise.all([primary.start(), replica.start()]);
    const toPrimary = new Redis(primary.url);
    const toReplica = new Redis(replica.url);
    // The name the controller uses for its Redis, moved by the failover.
    const proxy = await pausableProxy(primary.port);
    t.after(async () => {
      toPrimary.disconnect();
      toReplica.disconnect();
      await proxy.close();
      await Promise.all([primary.kill(), replica.kill()]);
    });
    // The full sync through the socket, loaded from it: no RDB file written into the working folder.
    await Promise.all([
      toPrimary.config('SET', 'repl-diskless-sync', 'yes'),
      toPrimary.config('SET', 'repl-diskless-sync-delay', '0'),
      toReplica.config('SET', 'repl-diskless-load', 'on-empty-db'),
    ]);
    await toReplica.replicaof('127.0.0.1', primary.port);
    const key = 'records-failover:state:instances:web';
    const state = new RedisState({ url: `redis://127.0.0.1:${proxy.port}`, name: 'records-failover' });
    await state.connect();
    closeBeforeRemoval(t, state);
    const provider = makeProvider(t, {}, { registry: state, logDir: dir });
    const warnings: string[] = [];
    provider.on('error', (err) => warnings.push(err.message));
    await provider.start();
    await provider.scaleTo(1);
    await untilTrue(async () => (await toReplica.hlen(key)) === 1, 10_000, 'the replica records web-1');

    // Replication stops (a lagging replica); the leader scales out on the primary.
    await toReplica.replicaof('NO', 'ONE');
    await provider.scaleTo(3);
    await until(provider, () => provider.instances().filter((i) => i.state === 'ready').length === 3);
    await untilTrue(async () => (await toPrimary.hlen(key)) === 3, 10_000, 'the primary records 3');
    assert.equal(await toReplica.hlen(key), 1, 'the replica is behind');
    // Failover: the name now leads to the promoted replica; the old primary is gone.
    proxy.moveTo(replica.port);
    await primary.kill();

    const ids = provider.instances().map((i) => i.id);
    let recorded: string[] = [];
    await untilTrue(
      async () => {
        recorded = (await toReplica.hkeys(key)).sort();
        return recorded.length === 3;
      },
      30_000,
      `every instance recorded on the promoted replica (${ids})`,
    );
    console.log(
      `recorded on the promoted replica: ${JSON.stringify(recorded)}; errors: ${JSON.stringify(warnings)}`,
    );
    assert.deepEqual(recorded, [...ids].sort());
    const pids = (await state.list('web')).map((r) => r.pid).sort();
    assert.deepEqual(
      pids,
      provider
        .instances()
        .map((i) => i.pid)
        .sort(),
      'with their pids',
    );
  });
});
