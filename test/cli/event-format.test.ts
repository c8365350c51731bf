// `scaleplane events` lines up each entry's message after its source; `provider` (a kubectl scale,
// the HPA's own scaling in mode hpa) is 8 letters and the column was 7 wide: its messages began one
// column right of every other source's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEvent, formatScale } from '../../src/cli/format.js';
import type { JournalEntry, JournalSource } from '../../src/controller/index.js';

function entry(source: JournalSource): JournalEntry {
  return {
    seq: 1,
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
