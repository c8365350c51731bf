// Two writers of one Redis or PostgreSQL state store's journal at once: two controllers that both
// think they lead, in a store the lease does not fence (README, Fencing), each numbering its own
// decisions 1, 2, 3, … The store allocates the seq an entry is stored at, so no two entries share
// one, each is held once, and a reader after any seq finds every entry stored past it. The write
// answers the seq it stored the entry at, and the writer's journal takes it (DecisionJournal.adopt).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { DecisionJournal, type JournalEntry, persistDecisions } from '../../src/controller/index.js';
import { FileState, PostgresState, RedisState } from '../../src/controller/state/index.js';
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

/** label shows an entry as a store or a journal holds it: `8=a:5×2 from 7`. */
const label = (e: JournalEntry) => `${e.seq}=${who(e)}${e.count ? `×${e.count} from ${e.firstSeq}` : ''}`;

/** decide appends decision `n` of controller `by` to its journal (a repeat when it decided `n` last). */
function decide(journal: DecisionJournal, by: string, n: number): JournalEntry {
  const { seq: _, time: __, ...decision } = entry(n, by);
  return journal.append(decision, Date.UTC(2026, 0, 1) + journal.newestSeq * 1000);
}

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

for (const backend of BACKENDS) {
  describe(`${backend.name} state store: the seq appendJournal stored an entry at`, () => {
    it('is what it resolves: its own, past the newest, where it was held already, a repeat past its twin', async () => {
      const open = freshJournal(backend);
      const a = await open();
      const b = await open();
      const seqs: number[] = [];
      for (let seq = 1; seq <= 3; seq++) seqs.push(await a.appendJournal(entry(seq, 'a')));
      seqs.push(await b.appendJournal(entry(2, 'b')));
      // Written again after a timeout whose first write ran: held already, at 4.
      seqs.push(await b.appendJournal(entry(2, 'b')));
      seqs.push(await b.appendJournal({ ...entry(3, 'b'), count: 2, firstSeq: 2 }, entry(2, 'b')));
      assert.deepEqual(seqs, [1, 2, 3, 4, 4, 5], 'the seqs appendJournal resolved');
      assert.deepEqual(
        (await a.loadJournal()).map(label),
        ['1=a:1', '2=a:2', '3=a:3', '5=b:3×2 from 2'],
        'the seqs the store holds',
      );
    });

    it("gives a deposed leader's journal the seqs the store gave its decisions, and its next seq after them", async () => {
      // Two controllers that both think they lead, in a store the lease does not fence (README,
      // Fencing): `a` was deposed, `b` took over from the store and decided twice, then `a`, not
      // knowing, decides on. The store stores a's decisions past b's.
      const open = freshJournal(backend);
      const controllers = await Promise.all(
        ['a', 'b'].map(async () => {
          const journal = new DecisionJournal();
          const stored = persistDecisions(
            journal,
            await open(),
            () => true,
            () => {},
          );
          after(() => stored());
          return { journal, stored };
        }),
      );
      const [a, b] = controllers as [(typeof controllers)[0], (typeof controllers)[0]];
      for (let n = 1; n <= 3; n++) await a.stored.stored(decide(a.journal, 'a', n));
      const store = await open();
      b.journal.restore(await store.loadJournal());
      for (let n = 4; n <= 5; n++) await b.stored.stored(decide(b.journal, 'b', n));
      // Three at once, each written after the one before (the second's and the third's writes wait
      // for the first's, which the store renumbers): a:4, a:5 and its repeat.
      const late = [decide(a.journal, 'a', 4), decide(a.journal, 'a', 5), decide(a.journal, 'a', 5)];
      await Promise.all(late.map((e) => a.stored.stored(e)));
      const next = decide(a.journal, 'a', 6);
      const nextSeq = next.seq;
      await a.stored.stored(next);

      const held = await store.loadJournal();
      const mine = (e: JournalEntry) => e.inputs.by === 'a';
      console.log(
        `${backend.name}: store ${JSON.stringify(held.map(label))}, a's journal ${JSON.stringify(a.journal.entries().map(label))}`,
      );
      assert.deepEqual(
        held.map(label),
        ['1=a:1', '2=a:2', '3=a:3', '4=b:4', '5=b:5', '6=a:4', '8=a:5×2 from 7', '9=a:6'],
        "the store holds a's late decisions past b's",
      );
      assert.deepEqual(
        a.journal.entries().map(label),
        held.filter(mine).map(label),
        "a's journal holds its decisions at the seqs (and a repeat's firstSeq) the store holds them at",
      );
      assert.equal(nextSeq, 9, "a's decision after the renumbered ones takes the seq the store gives it");
      assert.equal(a.journal.newestSeq, 9, "a's journal numbers on from the store's newest");
    });
  });
}

describe('file state store: the seq appendJournal stored an entry at', () => {
  it('is its own: the file allocates none', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'journal-seq-'));
    after(() => rm(folder, { recursive: true, force: true }));
    const store = new FileState({ path: join(folder, 'state.json') });
    after(() => store.close());
    assert.equal(await store.appendJournal(entry(1, 'a')), 1, 'a first entry');
    assert.equal(await store.appendJournal(entry(7, 'a')), 7, 'an entry past a gap');
    assert.equal(
      await store.appendJournal({ ...entry(8, 'a'), count: 2, firstSeq: 7 }, entry(7, 'a')),
      8,
      'a repeat',
    );
  });
});

describe('DecisionJournal.adopt', () => {
  /** given is a journal that gave a:1 … a:`n`. */
  function given(n: number, capacity = 100) {
    const journal = new DecisionJournal(capacity);
    const entries = Array.from({ length: n }, (_, i) => decide(journal, 'a', i + 1));
    return { journal, entries };
  }
  const labels = (journal: DecisionJournal) => journal.entries().map(label);

  it('moves the entries given after it above it, and a repeat of it names its new seq', () => {
    const { journal, entries } = given(3);
    const repeat = decide(journal, 'a', 3);
    assert.deepEqual(labels(journal), ['1=a:1', '2=a:2', '4=a:3×2 from 3'], 'before');
    journal.adopt(entries[1]!, 6);
    assert.deepEqual(labels(journal), ['1=a:1', '6=a:2', '7=a:3×2 from 3'], 'a:2 at 6, the repeat after it');
    assert.equal(journal.newestSeq, 7, 'numbering goes on after the newest');
    // The repeat's own write then stores it at 8 (another writer stored 7 meanwhile).
    journal.adopt(repeat, 8);
    assert.deepEqual(labels(journal), ['1=a:1', '6=a:2', '8=a:3×2 from 3'], 'the repeat at 8');
    assert.equal(decide(journal, 'a', 4).seq, 9, 'the next entry');
  });

  it("gives a repeat's firstSeq the seq its twin was stored at", () => {
    const { journal, entries } = given(2);
    decide(journal, 'a', 2);
    journal.adopt(entries[1]!, 5);
    assert.deepEqual(labels(journal), ['1=a:1', '6=a:2×2 from 5'], 'the repeat of a:2, stored at 5');
  });

  it('moves the entries after one the ring no longer holds', () => {
    const { journal, entries } = given(4, 2);
    journal.adopt(entries[0]!, 3);
    assert.deepEqual(labels(journal), ['4=a:3', '5=a:4'], 'a:3 and a:4 past a:1 at 3');
    assert.equal(journal.newestSeq, 5, 'newestSeq');
  });

  for (const [name, adopt] of [
    ['a seq not above its own', (e: JournalEntry, j: DecisionJournal) => j.adopt(e, e.seq)],
    ['a seq below its own', (e: JournalEntry, j: DecisionJournal) => j.adopt(e, e.seq - 1)],
    ['a seq that is no number', (e: JournalEntry, j: DecisionJournal) => j.adopt(e, Number.NaN)],
  ] as const)
    it(`ignores ${name}`, () => {
      const { journal, entries } = given(3);
      adopt(entries[1]!, journal);
      assert.deepEqual(labels(journal), ['1=a:1', '2=a:2', '3=a:3'], 'unchanged');
      assert.equal(journal.newestSeq, 3, 'newestSeq unchanged');
    });

  it('ignores an entry given before the journal was restored', () => {
    const { journal, entries } = given(2);
    journal.restore([entry(1, 'b'), entry(2, 'b'), entry(3, 'b')]);
    journal.adopt(entries[1]!, 9);
    assert.deepEqual(labels(journal), ['1=b:1', '2=b:2', '3=b:3'], 'the restored entries keep their seqs');
    assert.equal(journal.newestSeq, 3, 'newestSeq unchanged');
    assert.equal(entries[1]!.seq, 2, 'the old entry keeps its seq');
  });
});

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
