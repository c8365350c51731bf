// The lease's store loses its data (a Redis restarted without persistence, FLUSHALL, a replica
// promoted behind; a PostgreSQL lease row restored from before): fencing tokens must not go back,
// or the deposed leader's token would be taken for the newer one by whatever compares them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Registry } from 'prom-client';
import { type Alert, AlertManager, watchForAlerts } from '../../src/alerts/index.js';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  LeaderElector,
  Leadership,
  type LeaseGrant,
  PostgresLease,
  persistDecisions,
  RedisLease,
} from '../../src/controller/index.js';
import { RedisState, type StateError } from '../../src/controller/state/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { FencedProvider } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { PG_URL } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';

const silent = { info() {}, warn() {}, error() {} };

/** tenures takes and releases the lease `n` times, so its token is past 1; returns the last grant. */
async function tenures(lease: RedisLease | PostgresLease, holder: string, n: number): Promise<LeaseGrant> {
  let grant: LeaseGrant | undefined;
  for (let i = 0; i < n; i++) {
    if (grant) await lease.release(grant);
    grant = await lease.acquire(holder, 60_000);
    assert.ok(grant, `${holder} takes the lease (${i + 1})`);
  }
  return grant!;
}

describe('redis lease: Redis lost the lease and the counter', () => {
  it("the next leader's token is above every token a controller saw; the old leader is fenced", async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const name = 'store-loss';
    const old = new RedisLease({ url: server.url, name });
    const next = new RedisLease({ url: server.url, name });
    const oldState = new RedisState({ url: server.url, name, lease: name });
    after(async () => {
      await Promise.all([old.close(), next.close(), oldState.close()]);
      await server.kill();
    });
    await Promise.all([old.connect(), next.connect(), oldState.connect()]);
    const first = await tenures(old, 'old-leader', 3);
    assert.equal(first.token, 3);
    oldState.fence(first.token, first.holder);
    await oldState.saveDesired('web', 4);
    // The standby campaigns and loses: it has seen token 3.
    assert.equal(await next.acquire('new-leader', 60_000), undefined, 'the standby loses');
    // Redis comes back empty (no persistence): lease key and counter gone.
    await server.kill();
    await server.start();
    let second: LeaseGrant | undefined;
    await until(
      async () => {
        second = await next.acquire('new-leader', 60_000).catch(() => undefined);
        return second !== undefined;
      },
      10_000,
      'the standby wins the lost lease',
    );
    assert.ok(second, 'the second controller holds the lease');
    assert.ok(
      second.token > first.token,
      `the new token (${second.token}) is above the old leader's (${first.token}), not handed out again`,
    );
    await until(
      async () => (await old.current().catch(() => 'down')) !== 'down',
      10_000,
      "the old leader's connection is back",
    );
    assert.equal(await old.check(first), false, 'the old leader fails its fence');
    await assert.rejects(
      oldState.saveDesired('web', 1),
      (err: StateError) => err.code === 'STATE_FENCED',
      "the old leader's state write is refused",
    );
    // And the counter holds the new token: the leader after it goes on from there.
    await next.release(second);
    const third = await old.acquire('old-leader', 60_000);
    assert.ok(third && third.token > second.token, `tokens keep growing (${third?.token})`);
  });
});

describe('postgres lease: the lease row was lost', () => {
  it("the next leader's token is above every token a controller saw", async () => {
    const name = `store_loss_${randomBytes(4).toString('hex')}`;
    const old = new PostgresLease({ url: PG_URL, name });
    const next = new PostgresLease({ url: PG_URL, name });
    const admin = new pg.Client(PG_URL);
    after(async () => {
      await Promise.all([old.close(), next.close()]);
      await admin.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(`${name}_lease`)}`);
      await admin.end();
    });
    await Promise.all([old.connect(), next.connect(), admin.connect()]);
    const first = await tenures(old, 'old-leader', 3);
    assert.equal(first.token, 3);
    assert.equal(await next.acquire('new-leader', 60_000), undefined, 'the standby loses');
    // The row is gone (a restore from before the lease existed, an operator's DELETE).
    await admin.query(`DELETE FROM ${pg.escapeIdentifier(`${name}_lease`)}`);
    const second = await next.acquire('new-leader', 60_000);
    assert.ok(second, 'the second controller holds the lease');
    assert.ok(second.token > first.token, `the new token (${second.token}) is above ${first.token}`);
    assert.equal(await old.check(first), false, 'the old leader fails its fence');
  });
});

describe('a leader that takes over a state store that lost its data', () => {
  it('says so (error log, StateLost in the journal, a critical state-lost alert) and starts from what runs, not initial_instances', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const name = 'state-loss';
    const previous = new RedisLease({ url: server.url, name });
    const lease = new RedisLease({ url: server.url, name });
    const state = new RedisState({ url: server.url, name, lease: name });
    await Promise.all([previous.connect(), lease.connect(), state.connect()]);
    // An engine that runs 3 (a Deployment's pods, say): the group was scaled out under load.
    const engine = new MemoryProvider('web');
    await engine.scaleTo(3);
    const provider = new FencedProvider(engine, async () => true);
    const group = groupConfig({ minInstances: 1, maxInstances: 6, initialInstances: 1 });
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
          provider,
          journal,
          metrics: createMetrics({ defaultMetrics: false }),
          logger: silent,
          readMetrics: () => [],
        }),
      ],
    });
    const errors: string[] = [];
    // Wired as the app wires them: only the leader notifies (HighAvailability's onLeading).
    const sent: Alert[] = [];
    const alerts = new AlertManager({
      notifying: false,
      sinks: [{ name: 'capture', send: async (a) => void sent.push(a) }],
    });
    watchForAlerts(alerts, { providers: new Map(), journal });
    const elector = new LeaderElector({ store: lease, holder: 'next-leader', ttl: 3_000 });
    const leadership = new Leadership({
      elector,
      lease,
      controller,
      journal,
      state,
      providers: new Map([['web', provider]]),
      registry: new Registry(),
      logger: { ...silent, error: (_obj: unknown, msg?: string) => errors.push(String(msg)) },
      onRole: (role) => alerts.setNotifying(role !== 'standby'),
    });
    const unpersist = persistDecisions(
      journal,
      state,
      () => leadership.leading,
      () => {},
    );
    after(async () => {
      await unpersist();
      await leadership.close();
      controller.close();
      await alerts.close();
      await Promise.all([previous.close(), lease.close(), state.close()]);
      await server.kill();
    });
    // Another controller led through a few tenures; this one stands by and sees its token.
    const held = await tenures(previous, 'previous-leader', 3);
    await leadership.start();
    assert.equal(leadership.leading, false, 'standing by while the previous leader holds the lease');
    // Redis comes back empty: lease, counter and state gone; the previous leader is gone too.
    await server.kill();
    await server.start();
    await until(() => leadership.leading && controller.leading, 20_000, 'this controller takes over');
    const grant = leadership.grant!;
    assert.ok(grant.token > held.token, `token ${grant.token} above ${held.token}`);
    assert.ok(
      errors.some((m) => /state store holds no desired count.*data was lost/.test(m)),
      `the loss is logged as an error (${JSON.stringify(errors)})`,
    );
    const became = journal.entries({ group: 'web' }).find((e) => e.reasons.includes('BecameLeader'));
    assert.ok(became?.reasons.includes('StateLost'), `journaled as StateLost (${became?.reasons})`);
    // An operator hears of it: a notice (fired and resolved at once), critical, naming the token.
    await alerts.flush();
    assert.deepEqual(
      sent.map((a) => [a.key, a.status, a.severity]),
      [
        ['state-lost', 'firing', 'critical'],
        ['state-lost', 'resolved', 'critical'],
      ],
    );
    assert.match(sent[0]!.summary, new RegExp(`fencing token ${grant.token}.*data was lost`));
    assert.equal(alerts.isFiring('state-lost'), false, 'nothing left firing to repeat');
    assert.equal(
      controller.group('web').desired(),
      3,
      'the group keeps what runs: no reset to initial_instances 1',
    );
    assert.equal(engine.instances().length, 3, 'nothing scaled in');
    assert.ok(!engine.calls.slice(1).some((n) => n < 3), `no scale-in asked (${engine.calls})`);
  });
});

describe('redis state: the lost lease handed out again, then released', () => {
  it("refuses the old leader's write while nobody holds the lease under its token", async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const name = 'state-loss-released';
    const old = new RedisLease({ url: server.url, name });
    // A controller started after the loss: it has seen no token, so it starts from 1 again.
    const fresh = new RedisLease({ url: server.url, name });
    const oldState = new RedisState({ url: server.url, name, lease: name });
    after(async () => {
      await Promise.all([old.close(), fresh.close(), oldState.close()]);
      await server.kill();
    });
    await Promise.all([old.connect(), oldState.connect()]);
    const first = await old.acquire('old-leader', 60_000);
    assert.ok(first, 'the first controller holds the lease');
    oldState.fence(first.token, first.holder);
    await oldState.saveDesired('web', 4);
    await server.kill();
    await server.start();
    await fresh.connect();
    const second = await fresh.acquire('fresh-leader', 60_000);
    assert.ok(second, 'the second controller holds the lease');
    assert.equal(second.token, first.token, 'the same token, handed out again');
    await fresh.release(second);
    await until(
      async () => (await oldState.load().catch(() => 'down')) !== 'down',
      10_000,
      "the old leader's state connection is back",
    );
    await assert.rejects(
      oldState.saveDesired('web', 1),
      (err: StateError) => err.code === 'STATE_FENCED',
      "the old leader's write is refused although the counter holds its token",
    );
  });
});
