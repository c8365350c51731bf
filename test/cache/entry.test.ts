import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildEntry,
  type CacheEntry,
  classifyEntry,
  type EntryPolicy,
  type EntryState,
  jitteredTtl,
  remainingMs,
} from '../../src/cache/index.js';

const policy: EntryPolicy = {
  ttl: 1000,
  jitter: 0,
  earlyRefresh: 0.8,
  staleWhileRevalidate: 500,
  staleIfError: 2000,
  negativeTtl: 100,
};

test('jitteredTtl stays within ±jitter and never below 1 ms', () => {
  const cases = [
    { ttl: 1000, jitter: 0.1, random: 0, want: 900 },
    { ttl: 1000, jitter: 0.1, random: 0.5, want: 1000 },
    { ttl: 1000, jitter: 0.1, random: 0.999999, want: 1100 },
    { ttl: 1000, jitter: 0, random: 0, want: 1000 },
    { ttl: 2, jitter: 1, random: 0, want: 1 },
  ];
  for (const { ttl, jitter, random, want } of cases)
    assert.equal(
      jitteredTtl(ttl, jitter, () => random),
      want,
      `${ttl}/${jitter}/${random}`,
    );
});

test('buildEntry lays out the windows: refresh < fresh < stale < grace', () => {
  const entry = buildEntry('v', ['t'], policy, 10_000, () => 0.5)!;
  assert.deepEqual(
    { ...entry },
    {
      value: 'v',
      createdAt: 10_000,
      refreshAt: 10_800,
      freshUntil: 11_000,
      staleUntil: 11_500,
      graceUntil: 13_000,
      tags: ['t'],
      negative: false,
    },
  );
  assert.equal(remainingMs(entry, 12_000), 1000);
  assert.equal(remainingMs(entry, 20_000), 1);
});

test('buildEntry: misses get the negative TTL, no stale windows, or are not stored', () => {
  const negative = buildEntry(null, [], policy, 0, () => 0.5)!;
  assert.equal(negative.negative, true);
  assert.deepEqual(
    [negative.refreshAt, negative.freshUntil, negative.staleUntil, negative.graceUntil],
    [100, 100, 100, 100],
  );
  assert.equal(buildEntry(undefined, [], { ...policy, negativeTtl: 0 }, 0, Math.random), undefined);
});

test('buildEntry: grace shorter than stale-while-revalidate still covers it', () => {
  const entry = buildEntry(1, [], { ...policy, staleIfError: 100 }, 0, () => 0.5)!;
  assert.equal(entry.graceUntil, entry.staleUntil);
});

test('classifyEntry at each boundary, both sides', () => {
  const entry: CacheEntry = buildEntry('v', [], policy, 0, () => 0.5)!;
  const cases: [number, EntryState][] = [
    [0, 'fresh'],
    [799, 'fresh'],
    [800, 'refresh'],
    [999, 'refresh'],
    [1000, 'stale'],
    [1499, 'stale'],
    [1500, 'grace'],
    [2999, 'grace'],
    [3000, 'expired'],
  ];
  for (const [now, want] of cases) assert.equal(classifyEntry(entry, now), want, `at ${now}`);
  assert.equal(classifyEntry(undefined, 0), 'missing');
});

test('early refresh off: refreshAt equals freshUntil', () => {
  const entry = buildEntry('v', [], { ...policy, earlyRefresh: 0 }, 0, () => 0.5)!;
  assert.equal(entry.refreshAt, entry.freshUntil);
  assert.equal(classifyEntry(entry, 999), 'fresh');
});
