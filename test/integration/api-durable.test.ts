// The control API answers a change only once the state store holds it, on real Redis and
// PostgreSQL. Before, scale-group answered 200 and resize-group 202 while the write ran in the
// background: a leader killed (or deposed) in between lost a change the caller was told was
// accepted, and its successor restored the previous count. Here each store's write is slowed by an
// injected delay (the test's own wrapper, never the shared server), and the store is read directly
// the moment the answer arrives; a write the lease refuses (STATE_FENCED), a store that fails, and
// one that does not answer in time each give a 503 naming the store and the cause.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { persistDecisions } from '../../src/controller/index.js';
import type { StateStore } from '../../src/controller/state/index.js';
import type { InstanceSize, ResizeOptions } from '../../src/providers/index.js';
import { type ApiHarness, startApi } from '../helpers/api-harness.js';
import { SHARED_STORES } from '../helpers/shared-stores.js';

/** How long the injected delay holds each desired-count write: far longer than an answer takes. */
const HOLD_MS = 300;

const BACKENDS = SHARED_STORES;

type Hook = () => Promise<void>;

/**
 * leading opens a lease and a state store fenced by it (as `controller.state` defaults to), wins
 * the lease, and serves the harness API persisting to that store. `beforeWrite` runs before each
 * desired-count write and size write (the injected delay or failure); `reader` reads the store directly.
 */
async function leading(
  backend: (typeof BACKENDS)[number],
  options: {
    resizable?: boolean;
    savesSize?: boolean;
    storeTimeoutMs?: number;
    /** A provider whose engine keeps the size (Kubernetes, AWS): `write` is its write of it. */
    engineSize?: { sizeWrite: string; write: () => Promise<void> };
  } = {},
) {
  const name = `api_durable_${randomBytes(4).toString('hex')}`;
  const lease = backend.lease(name);
  const rival = backend.lease(name);
  const opened = [backend.state(name), backend.state(name)];
  await Promise.all([lease.connect(), rival.connect()]);
  // One after the other: two PostgresStates creating the same fresh tables at once can collide
  // (`type "…_journal" already exists`), 2 of 4 runs here; see the report.
  for (const s of opened) await s.connect();
  const state: StateStore = opened[0]!;
  const reader: StateStore = opened[1]!;
  const grant = (await lease.acquire('leader', 60_000))!;
  state.fence?.(grant.token);
  const hooks: { beforeWrite: Hook } = { beforeWrite: async () => {} };
  const saveDesired = state.saveDesired.bind(state);
  state.saveDesired = async (group, n) => {
    await hooks.beforeWrite();
    await saveDesired(group, n);
  };
  const putSize = state.putSize.bind(state);
  state.putSize = async (group, saved) => {
    await hooks.beforeWrite();
    await putSize(group, saved);
  };

  const api: ApiHarness = await startApi({
    resizable: options.resizable ?? false,
    ...(options.storeTimeoutMs !== undefined && { server: { storeTimeoutMs: options.storeTimeoutMs } }),
  });
  if (options.savesSize) {
    // As the local provider does with a state store: the resize stores the size in force at once.
    Object.assign(api.provider, {
      savesSize: true,
      resize: async (size: InstanceSize, o?: ResizeOptions) => {
        o?.onSizeSaved?.(state.putSize('web', { size }));
      },
    });
  }
  if (options.engineSize) {
    const { sizeWrite, write } = options.engineSize;
    Object.assign(api.provider, {
      savesSize: true,
      sizeWrite,
      resize: async (_size: InstanceSize, o?: ResizeOptions) => o?.onSizeSaved?.(write()),
    });
  }
  const errors: unknown[] = [];
  const persistence = persistDecisions(
    api.journal,
    state,
    () => true,
    (err) => errors.push(err),
  );
  api.controller.persistWith({ backend: state.backend, stored: (e) => persistence.stored(e) });
  after(async () => {
    await api.close();
    hooks.beforeWrite = async () => {};
    await persistence();
    await Promise.all([lease, rival, state, reader].map((s) => s.close()));
    await backend.cleanup(name);
  });
  return {
    api,
    state,
    reader,
    hooks,
    errors,
    /** depose hands the lease to a rival under this leader, which still believes it leads. */
    async depose() {
      await lease.release(grant);
      const theirs = await rival.acquire('new-leader', 60_000);
      assert.ok(theirs && theirs.token > grant.token, 'theirs && theirs.token > grant.token');
    },
  };
}

const scale = (api: ApiHarness, instances: number) =>
  api.call('/api/scalability/scale-group', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ group: 'web', action: 'set', instances }),
  });

for (const backend of BACKENDS) {
  describe(`${backend.name}: the control API answers a change once it is stored`, () => {
    it('scale-group answers 200 only once the store holds the new count', async () => {
      const { api, reader, hooks, errors } = await leading(backend);
      hooks.beforeWrite = () => delay(HOLD_MS);
      const res = await scale(api, 4);
      // Read the store the moment the answer arrives: the count must be there already.
      const stored = await reader.load();
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { group: 'web', previous: 1, desired: 4 });
      assert.equal(
        stored.desired.web,
        4,
        `answered 200 while the ${backend.name} store held ${stored.desired.web}`,
      );
      assert.equal(stored.journal.at(-1)?.after, 4);
      assert.deepEqual(errors, []);
    });

    it('resize-group answers 202 only once the store holds the resize and the size in force', async () => {
      const { api, reader, hooks } = await leading(backend, { resizable: true, savesSize: true });
      hooks.beforeWrite = () => delay(HOLD_MS);
      const res = await api.call('/api/scalability/resize-group', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ group: 'web', memory: '256Mi' }),
      });
      const [stored, size] = await Promise.all([reader.load(), reader.getSize('web')]);
      assert.equal(res.status, 202, res.text);
      // The provider here finishes at once: its ResizeFinished may follow.
      assert.deepEqual(
        stored.journal.filter((e) => !e.reasons.includes('ResizeFinished')).at(-1)?.reasons,
        ['ManualResize'],
        'answered 202 before the resize was journaled in the store',
      );
      assert.deepEqual(size?.size, { memory: 256 * 1024 * 1024 }, 'answered 202 before the size was stored');
    });

    it('a resize whose size the engine keeps: the store holds its entry, the engine write is late: a 503 naming that write', async () => {
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const sizeWrite = "the PATCH of Deployment shop/web's pod template resources";
      const { api, reader } = await leading(backend, {
        storeTimeoutMs: 300,
        engineSize: { sizeWrite, write: () => held },
      });
      const res = await api.call('/api/scalability/resize-group', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ group: 'web', memory: '256Mi' }),
      });
      release();
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
      assert.equal(res.body.inEffect, true);
      assert.equal(
        res.body.error,
        `group "web": resize is in effect on this controller but not stored: ${sizeWrite} was not made within 300 ms (the resize runs on and makes it when it can): a failover before it lands loses the resize`,
      );
      // What it does not blame did hold: the store has the resize's entry.
      const journal = (await reader.load()).journal.filter((e) => !e.reasons.includes('ResizeFinished'));
      assert.deepEqual(journal.at(-1)?.reasons, ['ManualResize']);
    });

    it('a write the lease refuses (deposed leader) is a 503 naming STATE_FENCED, not a 200', async () => {
      const { api, reader, depose } = await leading(backend);
      await depose();
      const res = await scale(api, 4);
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
      assert.equal(res.body.inEffect, false);
      assert.match(
        res.body.error,
        new RegExp(`${backend.name} state store refused the write \\(STATE_FENCED`),
      );
      assert.match(res.body.error, /deposed/);
      assert.equal((await reader.load()).desired.web, undefined, 'the deposed leader stored its count');
    });

    it('a failed write is a 503 saying the change is in effect here but not stored', async () => {
      const { api, state, reader } = await leading(backend);
      // A real failure: the store's own connection is gone (closing it again later is a no-op).
      await state.close();
      const res = await scale(api, 3);
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
      assert.equal(res.body.inEffect, true);
      assert.match(
        res.body.error,
        new RegExp(
          `group "web": desired 1 → 3 is in effect on this controller but NOT stored in the ${backend.name} state store`,
        ),
      );
      // What the error says holds: this controller runs with 3, the store has nothing.
      assert.equal((await api.call('/api/scalability/groups/web')).body.desired, 3);
      assert.equal((await reader.load()).desired.web, undefined);
    });

    it('a write that does not finish within the bound is a 503 saying it is pending', async () => {
      const { api, hooks } = await leading(backend, { storeTimeoutMs: 200 });
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      hooks.beforeWrite = () => held;
      const res = await scale(api, 2);
      release();
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
      assert.equal(res.body.inEffect, true);
      assert.match(
        res.body.error,
        new RegExp(`${backend.name} state store did not confirm it within 200 ms`),
      );
    });
  });
}
