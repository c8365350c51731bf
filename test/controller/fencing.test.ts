// Fencing against the lease store on real Redis: a leader whose lease was taken while it still
// believes it leads (a pause, a partition) is refused by the store right before it acts — a
// scale, and a local instance start (crash replacement included) — and instances it handed over
// keep running for the next leader. State writes are fenced by the store itself: a deposed leader's
// desired counts, journal, instance records and sizes are refused once a successor took the lease
// (Redis and PostgreSQL), and the refusal makes a Leadership step down instead of crashing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { Alert } from '../../src/alerts/index.js';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  FileState,
  GroupController,
  LeaderElector,
  Leadership,
  type PostgresLease,
  RedisLease,
} from '../../src/controller/index.js';
import { persistDecisions } from '../../src/controller/persist.js';
import { openState, type StateError, type StateStore } from '../../src/controller/state/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { FencedProvider, ProviderError } from '../../src/providers/index.js';
import { processGroupMembers, waitUntilGone } from '../helpers/cli-process.js';
import { groupConfig } from '../helpers/group-config.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { PG_URL, REDIS_URL, SHARED_STORES } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';
import { makeProvider } from '../providers/local-helpers.js';

const SHARED = SHARED_STORES;

const RECORD = { id: 'web-1', pid: 4242, port: 31000, startTime: 99, startedAt: 1_000 };
const silent = { info() {}, warn() {}, error() {} };
const ALERT: Alert = {
  key: 'crash-loop:web',
  status: 'firing',
  severity: 'critical',
  summary: 'group web is crash-looping',
  group: 'web',
  details: {},
  startsAt: new Date(1_000).toISOString(),
  occurrences: 1,
  source: 'scaleplane',
};

/** opened connects both halves of a shared backend under a fresh name, cleaned up after the test. */
async function opened(backend: (typeof SHARED)[number]) {
  const name = `fence_state_${randomBytes(4).toString('hex')}`;
  const leases = [backend.lease(name), backend.lease(name)];
  const states = [backend.state(name), backend.state(name), backend.state(name)];
  await Promise.all([...leases, ...states].map((s) => s.connect()));
  after(async () => {
    await Promise.all([...leases, ...states].map((s) => s.close()));
    await backend.cleanup(name);
  });
  return { leases, states: states as StateStore[] };
}

async function stolenLease() {
  const name = `fence-test-${randomBytes(4).toString('hex')}`;
  const mine = new RedisLease({ url: REDIS_URL, name });
  const theirs = new RedisLease({ url: REDIS_URL, name });
  await Promise.all([mine.connect(), theirs.connect()]);
  // A long ttl and interval: the elector will not notice the theft during the test, exactly like
  // a leader that has not yet run its next renewal.
  const elector = new LeaderElector({ store: mine, holder: 'old-leader', ttl: 60_000, interval: 20_000 });
  await elector.start();
  const grant = elector.grant!;
  const check = async (token: number) => elector.grant?.token === token && (await mine.check(grant));
  return {
    grant,
    check,
    async steal() {
      await theirs.release(grant);
      const taken = await theirs.acquire('new-leader', 60_000);
      assert.ok(taken && taken.token > grant.token, 'taken && taken.token > grant.token');
      assert.ok(elector.grant, 'the old leader still believes it leads');
    },
    async close() {
      await elector.close();
      await Promise.all([mine.close(), theirs.close()]);
      const redis = new Redis(REDIS_URL);
      await redis.del(`${name}:leader`, `${name}:fencing-token`);
      await redis.quit();
    },
  };
}

describe('fencing', () => {
  it('FencedProvider: scaleTo passes with the current token and is refused (FENCED) once the lease moved', async () => {
    const lease = await stolenLease();
    after(() => lease.close());
    const inner = new MemoryProvider('web');
    const fenced = new FencedProvider(inner, lease.check);
    await assert.rejects(fenced.scaleTo(1), { code: 'FENCED' }, 'no token: not leading');
    fenced.setToken(lease.grant.token);
    await fenced.scaleTo(2);
    assert.deepEqual(inner.calls, [2]);

    await lease.steal();
    await assert.rejects(fenced.scaleTo(3), (err: unknown) => {
      assert.ok(err instanceof ProviderError, 'err instanceof ProviderError');
      assert.equal(err.code, 'FENCED');
      return true;
    });
    assert.deepEqual(inner.calls, [2], 'the refused scale never reached the provider');
  });

  it('LocalProvider: a crash replacement by a fenced leader is refused; released instances keep running', async (t) => {
    const lease = await stolenLease();
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-fence-'));
    const registry = new FileState({ path: join(dir, 'state.json') });
    let fenced: FencedProvider | undefined;
    const local = makeProvider(
      t,
      {},
      {
        registry,
        logDir: dir,
        fence: (what) => fenced!.assertLeading(what),
      },
    );
    fenced = new FencedProvider(local, lease.check);
    fenced.setToken(lease.grant.token);
    const pids: number[] = [];
    const groups = new KnownGroups();
    after(async () => {
      // Both were killed by the test already, unless it failed first; their pids may be reused since.
      groups.killAll('SIGKILL');
      await lease.close();
      await rm(dir, { recursive: true, force: true });
    });
    await fenced.scaleTo(2);
    pids.push(...local.instances().map((i) => i.pid!));
    for (const pid of pids) groups.add(pid);
    assert.equal(pids.length, 2);

    await lease.steal();
    const errors: Error[] = [];
    fenced.on('error', (err) => errors.push(err));
    const refused = new Promise<void>((resolve) => {
      fenced.on('error', (err) => {
        if ((err as ProviderError).code === 'FENCED') resolve();
      });
    });
    // One instance dies: the provider tries to replace it, and the fence refuses the start.
    const killed = groups.kill(pids[0]!, 'SIGKILL');
    assert.equal(killed.sent, true, killed.message);
    await refused;
    assert.equal(local.instances().length, 1, 'no replacement was started');
    assert.deepEqual(
      local.instances().map((i) => i.pid),
      [pids[1]],
    );

    // Handing over: the survivor is forgotten, not stopped, and stays recorded for the next leader.
    await fenced.release();
    assert.deepEqual(local.instances(), []);
    assert.ok(processGroupMembers([pids[1]!]).length > 0, 'the released instance still runs');
    assert.deepEqual(
      (await registry.list('web')).map((r) => r.pid),
      [pids[1]],
    );
    await local.close();
    assert.ok(processGroupMembers([pids[1]!]).length > 0, 'closing after release stops nothing');
    const stopped = groups.kill(pids[1]!, 'SIGTERM');
    assert.equal(stopped.sent, true, stopped.message);
    assert.deepEqual(await waitUntilGone([pids[1]!], 5_000), []);
    assert.ok(
      errors.some((e) => (e as ProviderError).code === 'FENCED'),
      "errors.some((e) => (e as ProviderError).code === 'FENCED')",
    );
  });
});

for (const backend of SHARED) {
  describe(`${backend.name}: state writes fenced by the lease`, () => {
    it('refuses every write of a deposed leader once a successor took the lease', async () => {
      const { leases, states } = await opened(backend);
      const [mine, theirs] = leases as [RedisLease | PostgresLease, RedisLease | PostgresLease];
      const [old, successor, restarted] = states as [StateStore, StateStore, StateStore];
      const refusals: StateError[] = [];
      old.onFenced?.((err) => refusals.push(err));

      const first = (await mine.acquire('old-leader', 60_000))!;
      old.fence?.(first.token);
      await old.saveDesired('web', 2);
      await old.put('web', RECORD);

      // The old leader is paused past its lease (here: the lease is handed over under it); the
      // successor takes it, writes, and stops the recorded instance.
      await mine.release(first);
      const second = (await theirs.acquire('new-leader', 60_000))!;
      assert.ok(second.token > first.token, 'second.token > first.token');
      successor.fence?.(second.token);
      await successor.saveDesired('web', 5);
      await successor.remove('web', RECORD.id);
      await successor.putAlert('crash-loop:web', ALERT);

      // The old leader resumes and writes what it had decided before the pause.
      const fenced = { code: 'STATE_FENCED' };
      await assert.rejects(old.saveDesired('web', 3), fenced, 'saveDesired after the takeover');
      await assert.rejects(old.put('web', { ...RECORD, draining: true }), fenced, 'put after the takeover');
      await assert.rejects(old.appendJournal(journalEntry(7)), fenced, 'appendJournal after the takeover');
      await assert.rejects(old.remove('web', 'web-9'), fenced, 'remove after the takeover');
      await assert.rejects(old.putSize('web', { size: { cpu: 1 } }), fenced, 'putSize after the takeover');
      await assert.rejects(old.putAlert('crash-loop:web', undefined), fenced, 'putAlert after the takeover');
      assert.equal(refusals.length, 6, 'each refusal was told to the listener');
      assert.match(refusals[0]!.message, new RegExp(`fencing token ${first.token} .*now ${second.token}`));

      const state = await restarted.load();
      assert.equal(state.desired.web, 5, "the deposed leader overwrote the new leader's count");
      assert.deepEqual(state.journal, []);
      assert.deepEqual(await restarted.list('web'), [], 'the deposed leader brought back a stopped instance');
      assert.equal(await restarted.getSize('web'), undefined);
      assert.deepEqual(
        await restarted.openAlerts(),
        [ALERT],
        "the deposed leader closed its successor's alert",
      );

      assert.equal(old.fencedByLease, true);
      // Standing by (no token): refused without asking the store.
      old.fence?.(undefined);
      await assert.rejects(old.saveDesired('web', 1), fenced);
    });
  });
}

describe('openState: which state stores the lease fences', () => {
  it("fences the lease's own database (default or same backend and URL), not another one", async () => {
    const lease = { backend: 'redis' as const, url: REDIS_URL, ttl: 6000, name: 'fence-open' };
    const cases: [string, unknown, boolean][] = [
      ['state defaults to the lease store', undefined, true],
      ['same backend and URL, own name', { backend: 'redis', url: REDIS_URL, name: 'other' }, true],
      ['another Redis database', { backend: 'redis', url: `${REDIS_URL}/1`, name: 'fence-open' }, false],
      ['another backend', { backend: 'postgres', url: PG_URL, name: 'fence_open' }, false],
    ];
    after(() => SHARED[1]!.cleanup('fence_open'));
    for (const [what, state, fenced] of cases) {
      const config = { controller: { lease, state, journalSize: 10 } } as unknown as Config;
      const store = (await openState(config))!;
      try {
        assert.equal(store.fencedByLease, fenced, what);
      } finally {
        await store.close();
      }
    }
  });
});

describe('leadership and a refused state write', () => {
  it('steps down (stands by) instead of crashing', async () => {
    const { leases, states } = await opened(SHARED[0]!);
    const [mine, theirs] = leases as [RedisLease, RedisLease];
    const [state, , restarted] = states as [StateStore, StateStore, StateStore];
    const group = groupConfig({ minInstances: 1, maxInstances: 6 });
    const journal = new DecisionJournal();
    const provider = new FencedProvider(new MemoryProvider('web'), async () => true);
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
    // A long ttl: the elector's own renewals do not notice the theft during the test.
    const elector = new LeaderElector({ store: mine, holder: 'old-leader', ttl: 60_000, interval: 20_000 });
    const errors: unknown[] = [];
    const deposed: string[] = [];
    elector.on('deposed', (reason) => deposed.push(reason));
    const leadership = new Leadership({
      elector,
      lease: mine,
      controller,
      journal,
      state,
      providers: new Map([['web', provider]]),
      registry: new Registry(),
      logger: { ...silent, error: (obj: unknown) => errors.push(obj) },
    });
    const unpersist = persistDecisions(
      journal,
      state,
      () => leadership.leading,
      (err) => errors.push(err),
    );
    after(async () => {
      await unpersist();
      await leadership.close();
      controller.close();
    });
    await leadership.start();
    assert.equal(leadership.leading, true);
    controller.scale('web', 'set', 2);
    await until(async () => (await restarted.load()).desired.web === 2, 5_000, 'the leader persisted 2');

    const grant = leadership.grant!;
    await theirs.release(grant);
    const taken = (await theirs.acquire('new-leader', 60_000))!;
    assert.ok(elector.grant, 'the old leader still believes it leads');
    controller.scale('web', 'set', 4);
    await until(() => !leadership.leading, 5_000, 'the old leader stepped down');
    assert.equal(controller.leading, false, 'the controller stands by');
    assert.match(deposed.join(), /a state write was refused/, 'deposed by the refusal, not by a renewal');
    assert.ok(
      errors.some((e) => (e as StateError).code === 'STATE_FENCED'),
      'the refusal was logged',
    );
    assert.equal((await restarted.load()).desired.web, 2, "the deposed leader's 4 was written");
    await theirs.release(taken);
  });
});

function journalEntry(seq: number) {
  return {
    seq,
    time: new Date(seq * 1000).toISOString(),
    group: 'web',
    source: 'api' as const,
    before: 1,
    after: 2,
    reasons: ['ManualScale'],
    message: '1 → 2',
    inputs: {},
  };
}
