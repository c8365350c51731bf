// The live stream's decisions (DecisionFeed): the own journal while leading, the leader's (read from
// the state store) while standing by, and a change of role switches at the seq the stream stands
// at: no entry twice, none left out, and a fresh snapshot when the journals disagree.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { DecisionFeed, followJournal, type JournalMark } from '../../src/api/decision-feed.js';
import { DecisionJournal, type JournalEntry, journalAfter } from '../../src/controller/index.js';
import { within } from '../helpers/until.js';

function entry(seq: number, reason: string, time = `2026-01-01T00:00:0${seq}.000Z`): JournalEntry {
  return {
    seq,
    time,
    group: 'web',
    source: 'api',
    before: seq - 1,
    after: seq,
    reasons: [reason],
    message: reason,
    inputs: {},
  };
}

const seqs = (entries: readonly JournalEntry[]) => entries.map((e) => `${e.seq} ${e.reasons[0]}`);

describe('followJournal', () => {
  const journal = [entry(1, 'A'), entry(2, 'B'), entry(3, 'C')];
  const cases: {
    name: string;
    entries: JournalEntry[];
    mark: JournalMark | undefined;
    fresh: string[];
    mark2: number;
    restarted: boolean;
  }[] = [
    {
      name: 'first read: nothing fresh',
      entries: journal,
      mark: undefined,
      fresh: [],
      mark2: 3,
      restarted: false,
    },
    {
      name: 'empty journal, first read',
      entries: [],
      mark: undefined,
      fresh: [],
      mark2: 0,
      restarted: false,
    },
    {
      name: 'after the mark',
      entries: journal,
      mark: { seq: 1, time: journal[0]!.time },
      fresh: ['2 B', '3 C'],
      mark2: 3,
      restarted: false,
    },
    {
      name: 'nothing new',
      entries: journal,
      mark: { seq: 3, time: journal[2]!.time },
      fresh: [],
      mark2: 3,
      restarted: false,
    },
    {
      name: 'in any order',
      entries: [journal[2]!, journal[0]!, journal[1]!],
      mark: { seq: 1, time: journal[0]!.time },
      fresh: ['2 B', '3 C'],
      mark2: 3,
      restarted: false,
    },
    {
      name: 'the marked entry moved by a repeat: its new seq is fresh',
      entries: [entry(1, 'A'), entry(3, 'B')],
      mark: { seq: 2, time: entry(2, 'B').time },
      fresh: ['3 B'],
      mark2: 3,
      restarted: false,
    },
    {
      name: 'behind the mark (a store that lost its data, an entry never stored)',
      entries: journal,
      mark: { seq: 4, time: entry(4, 'D').time },
      fresh: [],
      mark2: 3,
      restarted: true,
    },
    {
      name: 'another decision at the mark (a successor numbered past an unstored entry)',
      entries: [...journal, entry(4, 'BecameLeader', '2026-01-01T00:01:00.000Z')],
      mark: { seq: 4, time: entry(4, 'D').time },
      fresh: [],
      mark2: 4,
      restarted: true,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const step = followJournal(c.entries, c.mark);
      assert.deepEqual(
        [seqs(step.fresh), step.mark.seq, step.restarted],
        [c.fresh, c.mark2, c.restarted],
        `fresh, mark and restarted for ${c.name}`,
      );
    });
});

/**
 * Fixture is a controller as the feed sees it: its own journal, its role, the store's journal, and
 * what the feed read of it: whole reads, bounded reads (after which seq) and the entries they returned.
 */
function fixture() {
  const journal = new DecisionJournal(100);
  const state = { following: false, store: [] as JournalEntry[] };
  const reads = { whole: 0, after: [] as number[], entries: 0 };
  let tailReads: { count: number; resolve: () => void }[] = [];
  const controller = {
    journal,
    get followsLeader() {
      return state.following;
    },
    readLeaderJournal: async () => {
      if (!state.following) return undefined;
      reads.whole++;
      reads.entries += state.store.length;
      return state.store;
    },
    readLeaderJournalAfter: async (seq: number) => {
      if (!state.following) return undefined;
      const tail = journalAfter(state.store, seq);
      reads.after.push(seq);
      reads.entries += tail.entries.length;
      const due = tailReads.filter((w) => reads.after.length >= w.count);
      tailReads = tailReads.filter((w) => reads.after.length < w.count);
      // Told on the next turn: the feed has taken in this read by then.
      setImmediate(() => {
        for (const w of due) w.resolve();
      });
      return tail;
    },
  };
  /** tailReadsDone resolves once `n` more bounded reads were made and taken in. */
  const tailReadsDone = (n: number) =>
    new Promise<void>((resolve) => tailReads.push({ count: reads.after.length + n, resolve }));
  const feed = new DecisionFeed({ controller, intervalMs: 5 });
  const seen: string[] = [];
  let restarts = 0;
  feed.on('decision', (e) => seen.push(`${e.seq} ${e.reasons[0]}`));
  feed.on('restart', () => restarts++);
  const append = (reason: string, after: number) =>
    journal.append(
      {
        group: 'web',
        source: 'api',
        before: after - 1,
        after,
        reasons: [reason],
        message: reason,
        inputs: {},
      },
      Date.parse('2026-01-01T00:00:00Z') + after,
    );
  return { journal, state, feed, seen, append, restarts: () => restarts, reads, tailReadsDone };
}

describe('DecisionFeed', () => {
  it('while leading: each own decision at once', (t) => {
    const f = fixture();
    f.append('InitialInstances', 1);
    f.feed.start();
    t.after(() => f.feed.close());
    f.append('ManualScale', 2);
    assert.deepEqual(f.seen, ['2 ManualScale'], 'the decision after start, not the history');
    assert.equal(f.feed.current(), f.journal, 'the hello is the own journal');
  });

  it("standing by: the store's decisions, from a first read that only marks where it stands", async (t) => {
    const f = fixture();
    f.state.following = true;
    f.state.store = [entry(1, 'BecameLeader'), entry(2, 'InitialInstances')];
    f.feed.start();
    t.after(() => f.feed.close());
    assert.equal(f.feed.current(), undefined, 'nothing read yet');
    await f.feed.ready();
    assert.deepEqual(seqs([...f.feed.current()!.entries()]), ['1 BecameLeader', '2 InitialInstances']);
    f.append('Standby own', 1);
    f.state.store = [...f.state.store, entry(3, 'ManualScale')];
    await within("the leader's decision", 10_000, once(f.feed, 'decision'));
    assert.deepEqual(f.seen, ['3 ManualScale'], "the leader's decision, not the standby's own");
  });

  it('takes over: the restored entries it had not read yet, then its own, each once', async (t) => {
    const f = fixture();
    f.state.following = true;
    f.state.store = [entry(1, 'BecameLeader'), entry(2, 'InitialInstances')];
    f.feed.start();
    t.after(() => f.feed.close());
    await f.feed.ready();
    // The old leader's last decision reaches the store, the standby wins before its next read.
    f.state.store = [...f.state.store, entry(3, 'ManualScale')];
    f.journal.restore(f.state.store);
    f.append('BecameLeader', 4); // journaled during the takeover, still standing by
    f.state.following = false;
    f.append('Restored', 5);
    f.append('ManualScale', 6);
    assert.deepEqual(
      f.seen,
      ['3 ManualScale', '4 BecameLeader', '5 Restored', '6 ManualScale'],
      'every seq after the hello, once, in order',
    );
    assert.equal(f.restarts(), 0, 'no fresh snapshot needed');
  });

  it("deposed: not its own LostLeadership, whose seq is the successor's next", async (t) => {
    const f = fixture();
    f.append('InitialInstances', 1);
    f.feed.start();
    t.after(() => f.feed.close());
    f.append('ManualScale', 2);
    f.state.store = f.journal.entries();
    f.state.following = true;
    f.append('LostLeadership', 3);
    const next = once(f.feed, 'decision');
    f.state.store = [...f.state.store, entry(3, 'BecameLeader', '2026-01-01T01:00:00.000Z')];
    await within("the successor's decision", 10_000, next);
    assert.deepEqual(f.seen, ['2 ManualScale', '3 BecameLeader'], "the successor's seq 3, once");
    assert.equal(f.restarts(), 0, 'no fresh snapshot needed');
  });

  it('deposed after showing a decision the store never got: a fresh snapshot, not a gap', async (t) => {
    const f = fixture();
    f.append('InitialInstances', 1);
    f.feed.start();
    t.after(() => f.feed.close());
    f.state.store = f.journal.entries();
    f.append('ManualScale', 2); // its write refused: the lease had moved on
    f.state.following = true;
    const restart = once(f.feed, 'restart');
    f.state.store = [...f.state.store, entry(2, 'BecameLeader', '2026-01-01T01:00:00.000Z')];
    await within('a restart', 10_000, restart);
    assert.deepEqual(
      seqs([...f.feed.current()!.entries()]),
      ['1 InitialInstances', '2 BecameLeader'],
      "the snapshot is the store's",
    );
    f.state.store = [...f.state.store, entry(3, 'ManualScale')];
    await within('the decision after the snapshot', 10_000, once(f.feed, 'decision'));
    assert.deepEqual(f.seen, ['2 ManualScale', '3 ManualScale'], 'after the snapshot, from its newest');
  });

  it('standing by: after the whole read for the hello, each poll reads the entries after the newest alone', async (t) => {
    const f = fixture();
    f.state.following = true;
    f.state.store = [entry(1, 'BecameLeader'), entry(2, 'InitialInstances')];
    f.feed.start();
    t.after(() => f.feed.close());
    await f.feed.ready();
    assert.deepEqual([f.reads.whole, f.reads.entries], [1, 2], 'the hello: one whole read');
    await within('three polls', 10_000, f.tailReadsDone(3));
    assert.deepEqual(
      [f.reads.whole, f.reads.entries, [...new Set(f.reads.after)]],
      [1, 2, [2]],
      'nothing new: each poll read after seq 2 and got no entry',
    );
    f.state.store = [...f.state.store, entry(3, 'ManualScale')];
    await within("the leader's decision", 10_000, once(f.feed, 'decision'));
    await within('a poll after it', 10_000, f.tailReadsDone(1));
    assert.deepEqual(f.seen, ['3 ManualScale']);
    assert.deepEqual(
      [f.reads.whole, f.reads.entries, f.reads.after.at(-1)],
      [1, 3, 3],
      'the new entry once, then after it',
    );
    assert.deepEqual(
      seqs([...f.feed.current()!.entries()]),
      ['1 BecameLeader', '2 InitialInstances', '3 ManualScale'],
      "a later stream's hello holds it",
    );
  });

  it("standing by: a repeat read after the mark takes its twin's place in a later stream's hello", async (t) => {
    const f = fixture();
    f.state.following = true;
    f.state.store = [entry(1, 'A'), entry(2, 'B')];
    f.feed.start();
    t.after(() => f.feed.close());
    await f.feed.ready();
    // As a store holds a repeat: the twin removed, the entry moved to the end with a new seq.
    f.state.store = [entry(1, 'A'), { ...entry(3, 'B'), count: 2, firstSeq: 2 }];
    await within('the repeat', 10_000, once(f.feed, 'decision'));
    assert.deepEqual(f.seen, ['3 B']);
    assert.deepEqual(
      seqs([...f.feed.current()!.entries()]),
      ['1 A', '3 B'],
      'the hello as the store holds it',
    );
    assert.equal(f.reads.whole, 1, 'no whole read for it');
  });

  for (const [name, store] of [
    [
      'the store went back (lost its data; a new journal from seq 1)',
      [entry(1, 'BecameLeader', '2026-01-02T00:00:00.000Z')],
    ],
    [
      'another decision at the seq shown (a successor numbered past an unstored entry)',
      [entry(1, 'A'), entry(2, 'B'), entry(3, 'BecameLeader', '2026-01-02T00:00:00.000Z')],
    ],
  ] as const)
    it(`standing by: ${name}: a whole read and a fresh snapshot`, async (t) => {
      const f = fixture();
      f.state.following = true;
      f.state.store = [entry(1, 'A'), entry(2, 'B'), entry(3, 'C')];
      f.feed.start();
      t.after(() => f.feed.close());
      await f.feed.ready();
      const restart = once(f.feed, 'restart');
      f.state.store = [...store];
      await within('a restart', 10_000, restart);
      assert.deepEqual(seqs([...f.feed.current()!.entries()]), seqs(store), "the snapshot is the store's");
      assert.deepEqual([f.reads.whole, f.seen], [2, []], 'read whole again; nothing delivered as new');
      f.state.store = [...store, entry(4, 'ManualScale')];
      await within('the decision after the snapshot', 10_000, once(f.feed, 'decision'));
      assert.deepEqual(f.seen, ['4 ManualScale'], 'after the snapshot, from its newest');
    });
});
