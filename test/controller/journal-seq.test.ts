// Two writers of one Redis or PostgreSQL state store's journal at once: two controllers that both
// think they lead, in a store the lease does not fence (README, Fencing), each numbering its own
// decisions 1, 2, 3, … The store allocates the seq an entry is stored at, so no two entries share
// one, each is held once, and a reader after any seq finds every entry stored past it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import type { JournalEntry } from '../../src/controller/index.js';
import { PostgresState, RedisState } from '../../src/controller/state/index.js';
import { dropPostgresState, dropRedisState } from '../helpers/shared-stores.js';

const BACKENDS = [
  {
    name: 'redis',
    async open(name: string) {
      const store = new RedisState({ url: 'redis://127.0.0.1:6379', name, journalSize: 1000 });
      await store.connect();
      return store;
    },
    cleanup: (name: string) => dropRedisState(name),
  },
  {
    name: 'postgres',
    async open(name: string) {
      const store = new PostgresState({
        url: 'postgres://postgres@127.0.0.1:5432/postgres',
        name,
        journalSize: 1000,
      });
      await store.connect();
      return store;
    },
    cleanup: (name: string) => dropPostgresState(name),
  },
];

/** entry is decision `seq` of controller `by`. */
function entry(seq: number, by: string): JournalEntry {
  return {
    seq,
    time: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
    group: 'web',
    source: 'policy',
    before: seq,
    after: seq + 1,
    reasons: ['AboveTarget'],
    message: `${by}'s decision ${seq}`,
    inputs: { by },
  };
}

/** who names an entry as its writer numbered it: `a:17`. */
const who = (e: JournalEntry) => `${e.inputs.by}:${e.message.split(' ').at(-1)}`;

const PER_WRITER = 200;

/**
 * freshJournal names a new store in `backend`, dropped after the test, and gives what opens a
 * store on it (each closed after the test).
 */
function freshJournal(backend: (typeof BACKENDS)[number]) {
  const name = `journal_seq_${randomBytes(4).toString('hex')}`;
  after(() => backend.cleanup(name));
  return async () => {
    const store = await backend.open(name);
    after(() => store.close());
    return store;
  };
}

for (const backend of BACKENDS) {
  describe(`${backend.name} state store: two writers of one journal`, () => {
    for (const writers of [
      ['a', 'b'],
      ['a', 'b', 'c', 'd'],
    ])
      it(`stores ${writers.length} × ${PER_WRITER} concurrent appends, each once at a seq of its own, in seq order`, async () => {
        const open = freshJournal(backend);
        const stores = await Promise.all(writers.map(() => open()));
        // Four: PostgreSQL's writer whose seq another stored first tried again, and one of four lost
        // 20 races in a row and gave up ("its seq was taken by another writer 20 times"); now each
        // waits its turn and takes the next.
        await Promise.all(
          stores.map(async (store, w) => {
            for (let seq = 1; seq <= PER_WRITER; seq++) await store.appendJournal(entry(seq, writers[w]!));
          }),
        );

        const reader = await open();
        const whole = await reader.loadJournal();
        const seqs = whole.map((e) => e.seq);
        const shared = seqs.filter((s, i) => i > 0 && s === seqs[i - 1]);
        console.log(
          `${backend.name}, ${writers.length} writers: ${whole.length} entries, ${new Set(seqs).size} distinct seqs, ${shared.length} shared, first ${JSON.stringify(whole.slice(0, 4).map((e) => `${e.seq}=${who(e)}`))}`,
        );
        assert.equal(new Set(seqs).size, seqs.length, 'no two entries at one seq');
        assert.equal(whole.length, writers.length * PER_WRITER, 'every append held, once');
        assert.ok(
          seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
          'seqs increase',
        );
        for (const by of writers)
          assert.deepEqual(
            whole.filter((e) => e.inputs.by === by).map(who),
            Array.from({ length: PER_WRITER }, (_, i) => `${by}:${i + 1}`),
            `${by}'s entries, each once, in its order`,
          );
        // A reader's polls find every entry stored after the seq it holds.
        for (const at of [0, seqs[99]!, seqs[250]!]) {
          const tail = await reader.loadJournalAfter(at);
          assert.deepEqual(
            tail.entries,
            whole.filter((e) => e.seq > at),
            `loadJournalAfter(${at})`,
          );
          assert.equal(tail.newestSeq, seqs.at(-1));
        }
      });

    it("holds a renumbered entry once when it is written again, and replaces a renumbered repeat's twin alone", async () => {
      const open = freshJournal(backend);
      const a = await open();
      const b = await open();
      for (let seq = 1; seq <= 3; seq++) await a.appendJournal(entry(seq, 'a'));
      // b numbers from 2: its 2 and 3 are stored as 4 and 5.
      await b.appendJournal(entry(2, 'b'));
      await b.appendJournal(entry(3, 'b'));
      // A write of b's 3 that timed out but ran, written again.
      await b.appendJournal(entry(3, 'b'));
      // b repeats its 3 (see DecisionJournal): the repeat takes the place of b's 3, not of a's.
      const repeat = { ...entry(4, 'b'), count: 2, firstSeq: 3 };
      await b.appendJournal(repeat, entry(3, 'b'));
      await b.appendJournal(repeat, entry(3, 'b'));
      const whole = await b.loadJournal();
      console.log(
        `${backend.name}: ${JSON.stringify(whole.map((e) => `${e.seq}=${who(e)}${e.count ? '×2' : ''}`))}`,
      );
      assert.deepEqual(
        whole.map((e) => `${e.seq}=${who(e)}${e.count ? '×2' : ''}`),
        ['1=a:1', '2=a:2', '3=a:3', '4=b:2', '6=b:4×2'],
      );
    });
  });
}

describe('postgres state store: a journal table written before seqs were unique', () => {
  it('moves the later of two entries at one seq past the newest when it connects', async () => {
    const name = `journal_seq_${randomBytes(4).toString('hex')}`;
    after(() => BACKENDS[1]!.cleanup(name));
    const client = new pg.Client('postgres://postgres@127.0.0.1:5432/postgres');
    await client.connect();
    after(() => client.end());
    const table = pg.escapeIdentifier(`${name}_journal`);
    await client.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, entry jsonb NOT NULL)`);
    for (const [seq, by] of [
      [1, 'a'],
      [2, 'a'],
      [2, 'b'],
      [3, 'a'],
      [3, 'b'],
    ] as const)
      await client.query(`INSERT INTO ${table} (entry) VALUES ($1)`, [JSON.stringify(entry(seq, by))]);
    const store = await BACKENDS[1]!.open(name);
    after(() => store.close());
    assert.deepEqual(
      (await store.loadJournal()).map((e) => `${e.seq}=${who(e)}`),
      ['1=a:1', '2=a:2', '3=a:3', '4=b:2', '5=b:3'],
    );
    await store.appendJournal(entry(4, 'a'));
    assert.deepEqual(
      (await store.loadJournalAfter(5)).entries.map((e) => `${e.seq}=${who(e)}`),
      ['6=a:4'],
    );
  });
});
