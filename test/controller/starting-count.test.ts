// startingCount: the count a group starts at after a restart or takeover, and when a restored count
// below what runs is believed (a scale-in decided and not finished) or not (a store behind).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  newestCountDecision,
  replacingInJournal,
  type StartEvidence,
  startingCount,
} from '../../src/controller/group.js';
import type { JournalEntry } from '../../src/controller/index.js';

const bounds = { minInstances: 1, maxInstances: 6, initialInstances: 2 };

describe('startingCount', () => {
  const cases: [string, number, number | undefined, StartEvidence, number, string[]][] = [
    ['nothing runs, nothing restored', 0, undefined, {}, 2, ['InitialInstances']],
    ['adopted what runs', 3, undefined, {}, 3, ['Adopted']],
    ['restored above what runs', 2, 4, { decided: { before: 2, after: 4 } }, 4, ['Restored']],
    ['restored equal to what runs', 4, 4, { decided: { before: 2, after: 4 } }, 4, ['Restored']],
    // A scale-in 4 → 2 decided, stored, not finished (its instances still drained): carried out.
    ['a stored scale-in from what runs', 4, 2, { decided: { before: 4, after: 2 } }, 2, ['Restored']],
    ['a stored scale-in from more than runs', 4, 2, { decided: { before: 5, after: 2 } }, 2, ['Restored']],
    // A rolling resize's replacement runs beside the instance it replaces.
    ['a resumed roll', 4, 3, { decided: { before: 1, after: 3 }, rolling: true }, 3, ['Restored']],
    // The store is behind: its newest decision raised the count to 2, yet 4 run.
    [
      'the newest decision raised it',
      4,
      2,
      { decided: { before: 1, after: 2 } },
      4,
      ['Adopted', 'RestoredBelowRunning'],
    ],
    ['no decision restored', 4, 2, {}, 4, ['Adopted', 'RestoredBelowRunning']],
    // A lowering decision that does not account for what runs (it lowered from 3; 4 run).
    [
      'a scale-in from fewer than run',
      4,
      2,
      { decided: { before: 3, after: 2 } },
      4,
      ['Adopted', 'RestoredBelowRunning'],
    ],
    // A decision that is not the restored count's (the count's own write lost).
    [
      'a decision to another count',
      4,
      2,
      { decided: { before: 4, after: 3 } },
      4,
      ['Adopted', 'RestoredBelowRunning'],
    ],
    // An unhealthy instance's replacement under way: its replacement runs beside it.
    ['a replacement under way', 4, 3, { decided: { before: 1, after: 3 }, replacing: true }, 3, ['Restored']],
    [
      'a scale-in and a replacement',
      5,
      2,
      { decided: { before: 4, after: 2 }, replacing: true },
      2,
      ['Restored'],
    ],
    [
      'more than one replacement explains',
      5,
      3,
      { decided: { before: 1, after: 3 }, replacing: true },
      5,
      ['Adopted', 'RestoredBelowRunning'],
    ],
    ['adopted above max', 8, 2, {}, 6, ['Adopted', 'RestoredBelowRunning', 'TooManyReplicas']],
    ['restored below min', 0, 0, {}, 1, ['Restored', 'TooFewReplicas']],
  ];
  for (const [name, running, restored, evidence, count, reasons] of cases) {
    it(`${name}: ${running} running, restored ${restored} → ${count}`, () => {
      const start = startingCount(bounds, running, restored, evidence);
      assert.equal(start.count, count);
      assert.deepEqual(start.reasons, reasons);
    });
  }
});

describe('replacingInJournal', () => {
  const health = (seq: number, reason: string): JournalEntry => ({
    seq,
    time: '',
    group: 'web',
    source: 'health',
    before: 3,
    after: 3,
    reasons: [reason],
    message: '',
    inputs: {},
  });
  it('is true from a replacement begun until it ended', () => {
    assert.equal(replacingInJournal([]), false);
    assert.equal(replacingInJournal([health(1, 'ReplaceUnhealthy')]), true);
    assert.equal(replacingInJournal([health(1, 'ReplaceUnhealthy'), health(2, 'Replaced')]), false);
    assert.equal(replacingInJournal([health(1, 'ReplaceUnhealthy'), health(2, 'ReplaceFailed')]), false);
    assert.equal(replacingInJournal([health(1, 'Replaced'), health(2, 'ReplaceUnhealthy')]), true);
  });
});

describe('newestCountDecision', () => {
  const entry = (
    seq: number,
    source: JournalEntry['source'],
    before: number,
    after: number,
  ): JournalEntry => ({
    seq,
    time: '',
    group: 'web',
    source,
    before,
    after,
    reasons: [],
    message: '',
    inputs: {},
  });
  it('skips entries that set no count (leader, health)', () => {
    const entries = [
      entry(1, 'startup', 0, 2),
      entry(2, 'api', 2, 4),
      entry(3, 'leader', 4, 4),
      entry(4, 'health', 4, 4),
    ];
    assert.equal(newestCountDecision(entries)?.seq, 2);
    assert.equal(newestCountDecision([entry(1, 'leader', 0, 0)]), undefined);
  });
});
