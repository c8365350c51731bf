// The journal a Redis or PostgreSQL state store holds when an append lands after a newer one, and
// when one lands twice. A store in another database than the lease is not fenced (README, Fencing):
// a deposed leader's append that was on its way when its successor took over lands after the
// successor's, with a seq of the old leader's numbering, below theirs. A write that timed out but
// ran is written again by persistDecisions' retry. A standby's live stream reads the journal after
// the seq it holds (loadJournalAfter) every second: it must answer what journalAfter tells of the
// whole journal, and the whole journal must hold each entry once, in seq order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import {
  DecisionJournal,
  type JournalEntry,
  journalAfter,
  persistDecisions,
} from '../../src/controller/index.js';
import { PostgresState, RedisState, type StateStore } from '../../src/controller/state/index.js';
import { pausableProxy } from '../helpers/pausable-proxy.js';
import { dropPostgresState, dropRedisState } from '../helpers/shared-stores.js';
import { until } from '../helpers/until.js';

const BACKENDS = [
  {
    name: 'redis',
    port: 6379,
    open: (port: number, name: string, journalSize = 100, timeout = 30_000) =>
      new RedisState({ url: `redis://127.0.0.1:${port}`, name, journalSize, commandTimeout: timeout }),
    cleanup: (name: string) => dropRedisState(name),
  },
  {
    name: 'postgres',
    port: 5432,
    open: (port: number, name: string, journalSize = 100, timeout = 30_000) =>
      new PostgresState({
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        name,
        journalSize,
        queryTimeout: timeout,
      }),
    cleanup: (name: string) => dropPostgresState(name),
  },
];

/** entry is decision `seq` of the leader `by` (its times differ from another leader's same seq). */
function entry(seq: number, by: 'old' | 'new'): JournalEntry {
  return {
    seq,
    time: new Date(seq * 1000 + (by === 'old' ? 1 : 0)).toISOString(),
    group: 'web',
    source: 'policy',
    before: seq,
    after: seq + 1,
    reasons: ['ScaleUp'],
    message: `${by} leader's decision ${seq}`,
    inputs: { by },
  };
}

const seqs = (entries: readonly JournalEntry[]) => entries.map((e) => e.seq);

for (const backend of BACKENDS) {
  describe(`${backend.name} state store: journal appends out of order`, () => {
    const name = `journal_order_${randomBytes(4).toString('hex')}`;
    after(() => backend.cleanup(name));

    /** open connects a store straight to the server; closed after the test. */
    async function open(port = backend.port): Promise<StateStore & { connect(): Promise<void> }> {
      const store = backend.open(port, name);
      after(() => store.close());
      await store.connect();
      return store;
    }

    it("reads the entries after a seq when a deposed leader's append landed after its successor's", async () => {
      // The old leader reaches the store through a link that stops forwarding (a partition) with its
      // append of 6 on its way; the new leader restored the journal up to 5 and numbers from there.
      const proxy = await pausableProxy(backend.port);
      after(async () => {
        proxy.resume();
        await proxy.close();
      });
      const old = await open(proxy.port);
      for (let seq = 1; seq <= 5; seq++) await old.appendJournal(entry(seq, 'old'));
      proxy.pause();
      const late = old.appendJournal(entry(6, 'old'));

      const successor = await open();
      assert.deepEqual(seqs(await successor.loadJournal()), [1, 2, 3, 4, 5]);
      for (const seq of [6, 7]) await successor.appendJournal(entry(seq, 'new'));
      // A standby's live stream reads up to the new leader's 7.
      const reader = await open();
      assert.deepEqual(seqs((await reader.loadJournalAfter(5)).entries), [6, 7]);
      await successor.appendJournal(entry(8, 'new'));

      proxy.resume();
      await late;
      await successor.appendJournal(entry(9, 'new'));

      // The stream's next poll. The store numbers the late 6 past the newest (6 is the new leader's,
      // see journal-seq.test.ts), and so the new leader's 9 after it.
      assert.deepEqual(
        (await reader.loadJournalAfter(7)).entries,
        [entry(8, 'new'), { ...entry(6, 'old'), seq: 9 }, { ...entry(9, 'new'), seq: 10 }],
        "after 7: the new leader's 8, the old leader's late 6 as 9, the new leader's 9 as 10 (before, Redis " +
          'stopped at the late 6 and missed 8; later both stores kept it at 6, below what the reader held)',
      );
      const whole = await reader.loadJournal();
      console.log(
        `${backend.name}: the journal holds ${JSON.stringify(whole.map((e) => `${e.seq}:${e.inputs.by}`))}`,
      );
      assert.deepEqual(seqs(whole), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the whole journal, in seq order');
      for (const at of [0, 5, 6, 7, 8, 9, 10]) {
        const tail = await reader.loadJournalAfter(at);
        const expected = journalAfter(whole, at);
        assert.deepEqual(
          [seqs(tail.entries), tail.newestSeq, tail.timeAtSeq],
          [seqs(expected.entries), expected.newestSeq, expected.timeAtSeq],
          `loadJournalAfter(${at})`,
        );
      }
    });

    it('holds an entry once when its append is written again (a write that timed out but ran)', async () => {
      const store = await open();
      const first = entry(20, 'new');
      await store.appendJournal(first);
      await store.appendJournal(first);
      // A repeat (see DecisionJournal) written twice: its twin is gone after the first.
      const repeat = { ...entry(21, 'new'), count: 2, firstSeq: 20 };
      await store.appendJournal(repeat, first);
      await store.appendJournal(repeat, first);
      const tail = await store.loadJournalAfter(19);
      assert.deepEqual(seqs(tail.entries), [21], 'the repeat once, its twin gone');
      assert.deepEqual(
        seqs(await store.loadJournal()).filter((s) => s >= 20),
        [21],
      );
    });

    it('holds a decision once when persistDecisions writes it again after a timeout, and its first write ran', async () => {
      const retried = `${name}_retried`;
      after(() => backend.cleanup(retried));
      const proxy = await pausableProxy(backend.port);
      const store = backend.open(proxy.port, retried, 100, 500);
      after(async () => {
        proxy.resume();
        await store.close().catch(() => {});
        await proxy.close();
      });
      await store.connect();
      const journal = new DecisionJournal();
      const stop = persistDecisions(
        journal,
        store,
        () => true,
        () => {},
      );
      after(() => stop());
      // Health entries: a journal line alone, no desired count written with it.
      const decide = (n: number) =>
        journal.append(
          {
            group: 'web',
            source: 'health',
            before: 2,
            after: 2,
            reasons: [`Event${n}`],
            message: `${n}`,
            inputs: {},
          },
          n * 1000,
        );
      await stop.stored(decide(1));
      if (backend.name === 'redis') {
        // Redis stops answering with the append of 2 on its way: it times out, and runs on resume
        // (one connection, in order), before the retry that the next decision's write makes first.
        proxy.pause();
        await assert.rejects(stop.stored(decide(2))!, /timed out/);
        proxy.resume();
        await stop.stored(decide(3));
      } else {
        // The backend that got the INSERT of 2 stalls: it times out, the pool drops the connection,
        // the retry and 3 go through a new one, and the stalled backend runs the INSERT afterwards.
        proxy.holdOn('INSERT INTO');
        await assert.rejects(stop.stored(decide(2))!, /timeout/i);
        await until(proxy.pausedClosed, 10_000, 'the timed-out connection closed');
        await stop.stored(decide(3));
        proxy.resume();
        await until(proxy.heldServed, 10_000, 'the stalled backend ran the INSERT of 2');
      }
      const reader = backend.open(backend.port, retried);
      after(() => reader.close());
      await reader.connect();
      const held = await reader.loadJournal();
      console.log(`${backend.name}: after the retry the store holds seqs ${JSON.stringify(seqs(held))}`);
      assert.deepEqual(seqs(held), [1, 2, 3], 'each decision once');
      assert.deepEqual(seqs((await reader.loadJournalAfter(1)).entries), [2, 3]);
    });

    it('reads the newest journalSize alone, as loadJournal does (PostgreSQL trims every 100 writes)', async () => {
      const small = `${name}_small`;
      after(() => backend.cleanup(small));
      const store = backend.open(backend.port, small, 3);
      after(() => store.close());
      await store.connect();
      for (let seq = 1; seq <= 5; seq++) await store.appendJournal(entry(seq, 'new'));
      const whole = await store.loadJournal();
      assert.deepEqual(seqs(whole), [3, 4, 5]);
      for (const at of [0, 2, 3, 5])
        assert.deepEqual(
          await store.loadJournalAfter(at),
          journalAfter(whole, at),
          `loadJournalAfter(${at})`,
        );
    });
  });
}
