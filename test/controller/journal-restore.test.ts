// A journal restored from the state store at start (a restart, a new leader) may be as long as
// `controller.journal_size`, which has no upper bound. restore spread the entries as arguments, and
// past ~120,000 of them V8 threw "Maximum call stack size exceeded": with journal_size 200000 and a
// state store holding that many decisions, every start failed, naming nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionJournal, type JournalEntry, restoreState } from '../../src/controller/index.js';
import type { StateStore } from '../../src/controller/state/index.js';

function entries(n: number, firstSeq = 1): JournalEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: firstSeq + i,
    time: new Date(1_700_000_000_000 + i).toISOString(),
    group: 'web',
    source: 'policy',
    before: 1,
    after: 2,
    reasons: ['DesiredWithinRange'],
    message: '1 → 2',
    inputs: {},
  }));
}

describe('DecisionJournal.restore', () => {
  it('restores 200,000 persisted entries (journal_size 200000) and numbers on after the newest', async () => {
    const journal = new DecisionJournal(200_000);
    const saved = entries(200_000);
    // What a start runs: the state store's load, then the journal's restore.
    const state = { load: async () => ({ desired: { web: 2 }, journal: saved }) } as unknown as StateStore;
    assert.deepEqual(await restoreState(state, journal), { web: 2 });
    assert.equal(journal.entries({ limit: 200_000 }).length, 200_000);
    const next = journal.append(
      { group: 'web', source: 'api', before: 2, after: 3, reasons: [], message: '', inputs: {} },
      0,
    );
    assert.equal(next.seq, 200_001);
  });

  it('keeps the newest `capacity` entries; numbering follows the highest seq, not the last', () => {
    const journal = new DecisionJournal(10);
    journal.append(
      { group: 'web', source: 'api', before: 1, after: 2, reasons: [], message: '', inputs: {} },
      0,
    );
    const saved = [...entries(24, 1), ...entries(1, 100)];
    journal.restore(saved);
    assert.deepEqual(
      journal.entries({ limit: 100 }).map((e) => e.seq),
      [16, 17, 18, 19, 20, 21, 22, 23, 24, 100],
    );
    const next = journal.append(
      { group: 'web', source: 'api', before: 2, after: 3, reasons: [], message: '', inputs: {} },
      0,
    );
    assert.equal(next.seq, 101);
    journal.restore([]);
    assert.deepEqual(journal.entries(), []);
    assert.equal(
      journal.append(
        { group: 'web', source: 'api', before: 2, after: 3, reasons: [], message: '', inputs: {} },
        0,
      ).seq,
      102,
    );
  });
});
