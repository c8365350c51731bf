// A desired count whose write the state store refused (a Redis that takes no writes for a while:
// `min-replicas-to-write` with its replica away, a failover under way) is written again once the
// store takes writes. Before, the store kept the previous count until the group's next decision, and
// a successor restored it: the scale-in whose write failed was undone.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { DecisionJournal, persistDecisions } from '../../src/controller/index.js';
import { RedisState } from '../../src/controller/state/index.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

describe('a desired count whose write the state store refused', () => {
  it('is written again once the store takes writes, and a newer count is not overwritten', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const admin = new Redis(server.url);
    const state = new RedisState({ url: server.url, name: 'persist-retry' });
    await state.connect();
    const journal = new DecisionJournal();
    const errors: string[] = [];
    const stop = persistDecisions(
      journal,
      state,
      () => true,
      (err) => errors.push((err as Error).message),
    );
    after(async () => {
      await stop();
      await state.close();
      admin.disconnect();
      await server.kill();
    });
    const decide = (before: number, after: number) =>
      journal.append(
        { group: 'web', source: 'api', before, after, reasons: ['ManualScale'], message: '', inputs: {} },
        0,
      );
    await stop.stored(decide(0, 4));
    assert.equal((await state.load()).desired.web, 4);

    // No replica: every write is refused with NOREPLICAS, as by an isolated primary.
    await admin.config('SET', 'min-replicas-to-write', '1');
    await assert.rejects(stop.stored(decide(4, 2))!, /NOREPLICAS|EXECABORT/);
    assert.equal((await state.load()).desired.web, 4, 'the store still holds 4');
    await admin.config('SET', 'min-replicas-to-write', '0');
    await until(
      async () => (await state.load()).desired.web === 2,
      10_000,
      'the scale-in to 2 stored once the store takes writes',
    );
    // A newer decision stored meanwhile is not overwritten by a retry of an older one.
    await stop.stored(decide(2, 3));
    await admin.config('SET', 'min-replicas-to-write', '1');
    await assert.rejects(stop.stored(decide(3, 1))!, /NOREPLICAS|EXECABORT/);
    await admin.config('SET', 'min-replicas-to-write', '0');
    await stop.stored(decide(1, 5));
    await stop();
    console.log(`errors: ${JSON.stringify(errors)}; stored at the end: ${(await state.load()).desired.web}`);
    assert.equal((await state.load()).desired.web, 5, 'the newest count stays');
  });
});

describe('a journal entry whose write the state store refused', () => {
  it('is written again, in order, before any newer one; a repeat takes its place', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const admin = new Redis(server.url);
    const state = new RedisState({ url: server.url, name: 'persist-retry-journal' });
    await state.connect();
    const journal = new DecisionJournal();
    const stop = persistDecisions(
      journal,
      state,
      () => true,
      () => {},
    );
    after(async () => {
      await stop();
      await state.close();
      admin.disconnect();
      await server.kill();
    });
    const decide = (before: number, after: number, reasons = ['ManualScale']) =>
      journal.append({ group: 'web', source: 'api', before, after, reasons, message: '', inputs: {} }, 0);
    const stored = async () =>
      (await state.load()).journal.map((e) => `${e.before}->${e.after}${e.count ? `×${e.count}` : ''}`);
    await stop.stored(decide(0, 4));

    // The store takes no writes for a while (NOREPLICAS, as an isolated primary answers).
    await admin.config('SET', 'min-replicas-to-write', '1');
    await assert.rejects(stop.stored(decide(4, 2))!, /NOREPLICAS|EXECABORT/);
    await assert.rejects(stop.stored(decide(2, 3))!, /NOREPLICAS|EXECABORT/);
    // A repeat of 4->2 (see DecisionJournal) while its first is not stored yet.
    await assert.rejects(stop.stored(decide(4, 2))!, /NOREPLICAS|EXECABORT/);
    await admin.config('SET', 'min-replicas-to-write', '0');
    await stop.stored(decide(3, 5));
    const kept = await stored();
    console.log(`the store's journal once it takes writes again: ${JSON.stringify(kept)}`);
    assert.deepEqual(kept, ['0->4', '2->3', '4->2×2', '3->5'], 'every decision, in the journal order');
    assert.deepEqual(
      (await state.load()).journal,
      journal.entries(),
      'the store holds what the journal holds',
    );
  });
});
