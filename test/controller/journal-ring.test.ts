// The decision journal keeps its last `capacity` entries in a ring (O(1) append once full, where an
// array's shift was O(n): 100,000 appends to a full journal of 50,000 took 9.1 s). What it returns
// must be what the array returned: checked here against that array, entry for entry. And
// controller.journal_size has a maximum (MAX_JOURNAL_SIZE: the file store rewrites the whole
// journal on each decision); more is a config error naming the field.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, MAX_JOURNAL_SIZE, parseConfig } from '../../src/config/index.js';
import { DecisionJournal, type JournalEntry, type JournalQuery } from '../../src/controller/index.js';

/** ArrayJournal is the journal as it was (push, then shift past the capacity): the reference. */
class ArrayJournal {
  readonly entries: JournalEntry[] = [];
  constructor(readonly capacity: number) {}
  add(entry: JournalEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.shift();
  }
  query(q: JournalQuery): JournalEntry[] {
    const matching = this.entries.filter(
      (e) => (q.group === undefined || e.group === q.group) && e.seq > (q.since ?? 0),
    );
    const limit = q.limit ?? 100;
    if (limit === 0) return [];
    // With `since`, a page: the oldest `limit` after it.
    return q.since !== undefined ? matching.slice(0, limit) : matching.slice(-limit);
  }
  last(group: string): JournalEntry | undefined {
    return this.entries.findLast((e) => e.group === group);
  }
}

const GROUPS = ['web', 'api', 'worker'];
const QUERIES: JournalQuery[] = [
  {},
  { limit: 0 },
  { limit: 1 },
  { limit: 2 },
  { limit: 5 },
  { limit: 1000 },
  { group: 'web' },
  { group: 'api', limit: 2 },
  { group: 'none' },
  { since: 3 },
  { since: 7, limit: 2 },
  { group: 'worker', since: 4, limit: 3 },
];

function compare(journal: DecisionJournal, reference: ArrayJournal, when: string): void {
  for (const query of QUERIES) {
    assert.deepEqual(
      journal.entries(query),
      reference.query(query),
      `${when}: entries(${JSON.stringify(query)})`,
    );
  }
  for (const group of [...GROUPS, 'none']) {
    assert.deepEqual(journal.last(group), reference.last(group), `${when}: last(${group})`);
  }
}

describe('decision journal ring', () => {
  for (const capacity of [1, 2, 5, 7]) {
    it(`capacity ${capacity}: the same entries, order and seq as the array it replaced, through wraps and restores`, () => {
      const journal = new DecisionJournal(capacity);
      const reference = new ArrayJournal(capacity);
      compare(journal, reference, 'empty');
      for (let i = 0; i < 4 * capacity + 3; i++) {
        const group = GROUPS[i % GROUPS.length]!;
        const entry = journal.append(
          {
            group,
            source: 'policy',
            before: i,
            after: i + 1,
            reasons: ['AboveTarget'],
            message: `${i}`,
            inputs: {},
          },
          1_700_000_000_000 + i,
        );
        assert.equal(entry.seq, i + 1);
        reference.add(entry);
        compare(journal, reference, `after ${i + 1} appends`);
      }
      // A restore (a restart) mid-wrap, then appends numbering on after the newest restored.
      const saved = reference.entries.slice(-3);
      journal.restore(saved);
      const restored = new ArrayJournal(capacity);
      for (const entry of saved.slice(-capacity)) restored.add(entry);
      compare(journal, restored, 'restored');
      for (let i = 0; i < 2 * capacity + 1; i++) {
        const entry = journal.append(
          {
            group: 'web',
            source: 'api',
            // Each a different change: a repeat of one would be counted, not appended
            // (journal-repeat.test.ts checks those against a reference of their own).
            before: i,
            after: i + 1,
            reasons: ['ManualScale'],
            message: 'm',
            inputs: {},
          },
          1_800_000_000_000 + i,
        );
        assert.equal(entry.seq, saved.at(-1)!.seq + i + 1);
        restored.add(entry);
        compare(journal, restored, `restored + ${i + 1}`);
      }
    });
  }

  it(`controller.journal_size: at most ${MAX_JOURNAL_SIZE}; more is a config error naming the field`, () => {
    const yaml = (n: number) =>
      `groups:\n  web:\n    command: node s.js\ncontroller:\n  journal_size: ${n}\n`;
    assert.equal(
      parseConfig(yaml(MAX_JOURNAL_SIZE), { baseDir: '/srv' }).controller.journalSize,
      MAX_JOURNAL_SIZE,
    );
    for (const n of [MAX_JOURNAL_SIZE + 1, 200_000]) {
      assert.throws(
        () => parseConfig(yaml(n), { baseDir: '/srv' }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.issues.length === 1 &&
          err.issues[0]!.path === 'controller.journal_size' &&
          err.issues[0]!.line === 5,
        `journal_size ${n}`,
      );
    }
  });
});
