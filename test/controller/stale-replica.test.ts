// The Redis that holds the lease and the state fails over to a replica that is behind: the old
// leader's last scale-out never reached it. The new leader must not scale in, on the word of that
// stale desired count, the instances its predecessor started and that run and serve.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  LeaderElector,
  Leadership,
  persistDecisions,
  RedisLease,
} from '../../src/controller/index.js';
import { RedisState } from '../../src/controller/state/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { FencedProvider, type Provider } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const silent = { info() {}, warn() {}, error() {} };
const NAME = 'stale-replica';

/** haController wires one controller as the app does: lease, state, fenced engine, leadership, persistence. */
async function haController(url: string, holder: string, engine: Provider) {
  const lease = new RedisLease({ url, name: NAME, commandTimeout: 500 });
  const state = new RedisState({ url, name: NAME, lease: NAME, commandTimeout: 1000 });
  await Promise.all([lease.connect(), state.connect()]);
  const group = groupConfig({ minInstances: 1, maxInstances: 6, initialInstances: 2 });
  const journal = new DecisionJournal();
  const controller = new Controller({
    config: {
      controller: { interval: 60_000, journalSize: 100 },
      groups: { web: group },
    } as unknown as Config,
    journal,
    logger: silent,
    backends: () => [],
    groups: [
      new GroupController({
        config: group,
        // The engine (a Deployment, say) is shared by every controller; each fences its own calls.
        provider: new FencedProvider(engine, async (token) => leadership.holds(token)),
        journal,
        metrics: createMetrics({ defaultMetrics: false }),
        logger: silent,
        readMetrics: () => [],
      }),
    ],
  });
  const provider = controller.group('web').provider as FencedProvider;
  const leadership: Leadership = new Leadership({
    elector: new LeaderElector({ store: lease, holder, ttl: 3_000 }),
    lease,
    controller,
    journal,
    state,
    providers: new Map([['web', provider]]),
    registry: new Registry(),
    logger: silent,
  });
  const unpersist = persistDecisions(
    journal,
    state,
    () => leadership.leading,
    () => {},
  );
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await unpersist();
    await leadership.close();
    controller.close();
    await Promise.all([lease.close(), state.close()]);
  };
  return { controller, leadership, journal, close };
}

describe('redis failover to a replica behind the last scale-out', () => {
  it('the new leader adopts what runs instead of scaling in to the stale desired count', async () => {
    const primary = new RedisServer(await freePort());
    const replica = new RedisServer(await freePort());
    await Promise.all([primary.start(), replica.start()]);
    const toPrimary = new Redis(primary.url);
    const toReplica = new Redis(replica.url);
    // The engine (a Deployment's replicas, an Auto Scaling group's capacity): it outlives controllers.
    const engine = new MemoryProvider('web');
    const closers: (() => Promise<void>)[] = [];
    after(async () => {
      for (const close of closers) await close().catch(() => {});
      toPrimary.disconnect();
      toReplica.disconnect();
      await Promise.all([primary.kill(), replica.kill()]);
    });
    // The full sync through the socket, loaded from it: no RDB file written into the working folder.
    await Promise.all([
      toPrimary.config('SET', 'repl-diskless-sync', 'yes'),
      toPrimary.config('SET', 'repl-diskless-sync-delay', '0'),
      toReplica.config('SET', 'repl-diskless-load', 'on-empty-db'),
    ]);
    await toReplica.replicaof('127.0.0.1', primary.port);

    const old = await haController(primary.url, 'old-leader', engine);
    closers.push(old.close);
    await old.leadership.start();
    assert.equal(old.leadership.leading, true, 'the first controller leads');
    await until(() => old.controller.leading, 10_000, 'the first leader runs its loop');
    assert.equal(engine.instances().length, 2, 'initial_instances 2 run');
    // The replica has everything up to here: desired 2, the takeover's journal.
    await until(
      async () => (await toReplica.hget(`${NAME}:state:desired`, 'web')) === '2',
      10_000,
      'the replica holds desired 2',
    );
    // Replication stops before the last writes (a lagging replica, promoted by a failover).
    await toReplica.replicaof('NO', 'ONE');

    old.controller.scale('web', 'scale-out', 2);
    await until(() => engine.instances().length === 4, 10_000, 'the old leader runs 4');
    await until(
      async () => (await toPrimary.hget(`${NAME}:state:desired`, 'web')) === '4',
      10_000,
      'the primary holds desired 4',
    );
    assert.equal(await toReplica.hget(`${NAME}:state:desired`, 'web'), '2', 'the replica is behind');
    // The primary dies with the old leader's host; the old leader is gone (its close leaves the engine as is).
    await primary.kill();
    await old.close();
    const callsBefore = engine.calls.length;

    // A standby connected to the promoted replica takes over once the old lease expires there.
    const next = await haController(replica.url, 'new-leader', engine);
    closers.push(next.close);
    await next.leadership.start();
    await until(
      () => next.leadership.leading && next.controller.leading,
      20_000,
      'the new leader takes over on the promoted replica',
    );
    const startup = next.journal
      .entries({ group: 'web' })
      .filter((e) => e.source === 'startup')
      .at(-1);
    console.log(
      `new leader's start: ${startup?.message}; engine scaleTo calls after the failover: ${JSON.stringify(engine.calls.slice(callsBefore))}`,
    );
    assert.deepEqual(
      engine.calls.slice(callsBefore).filter((n) => n < 4),
      [],
      'no scale-in of the running, serving instances',
    );
    assert.equal(engine.instances().length, 4, 'the 4 instances run on');
    assert.equal(next.controller.group('web').desired(), 4, 'the new leader wants what runs');
    assert.deepEqual(startup?.reasons, ['Adopted', 'RestoredBelowRunning']);
    // The promoted store is brought up to date by the new leader's own write.
    await until(
      async () => (await toReplica.hget(`${NAME}:state:desired`, 'web')) === '4',
      10_000,
      'the new leader stores desired 4',
    );
  });
});
