// `scaleplane events` lines up each entry's message after its source; `provider` (a kubectl scale,
// the HPA's own scaling in mode hpa) is 8 letters and the column was 7 wide: its messages began one
// column right of every other source's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEvent, formatEvents, formatScale } from '../../src/cli/format.js';
import type { JournalEntry, JournalSource } from '../../src/controller/index.js';

function entry(source: JournalSource, seq = 1): JournalEntry {
  return {
    seq,
    time: '2026-11-30T08:00:00.000Z',
    group: 'web',
    source,
    before: 2,
    after: 4,
    reasons: ['X'],
    message: '2 → 4: why',
    inputs: {},
  };
}

describe('events: one column for the message', () => {
  it('starts every source’s message at the same column', () => {
    const sources: JournalSource[] = ['policy', 'api', 'startup', 'health', 'leader', 'reload', 'provider'];
    const columns = sources.map((s) => formatEvent(entry(s)).indexOf('2 → 4: why'));
    assert.deepEqual(
      new Set(columns).size,
      1,
      `message columns by source: ${sources.map((s, i) => `${s} ${columns[i]}`).join(', ')}`,
    );
  });
});

describe('events: each entry’s seq', () => {
  // The text lacked the seq that the JSON output, the API and the dashboard carry: nothing to pass
  // to `--since`, nothing to match an entry on the dashboard with.
  it('starts each line with #seq', () => {
    assert.match(formatEvent(entry('policy', 42)), /^#42 {2}2026-11-30T08:00:00\.000Z {2}web {2}policy /);
  });

  it('right-aligns the seqs of a list, so 9 and 10 start their messages at the same column', () => {
    const lines = formatEvents([entry('policy', 9), entry('api', 10)]).split('\n');
    assert.deepEqual(
      lines.map((l) => l.slice(0, 4)),
      ['# 9 ', '#10 '],
      'the seq column of each line',
    );
    assert.equal(
      new Set(lines.map((l) => l.indexOf('2 → 4: why'))).size,
      1,
      `message columns: ${lines.join(' | ')}`,
    );
    assert.equal(formatEvents([]), '(no events)');
  });
});

describe('formatScale', () => {
  it('a scale to the count the group has says it changed nothing, not `2 → 2`', () => {
    assert.equal(formatScale('web', { previous: 1, desired: 3 }), 'web: 1 → 3');
    assert.equal(
      formatScale('web', { previous: 2, desired: 2 }),
      'web: already 2, nothing changed',
      'a no-op printed as a change',
    );
  });
});
