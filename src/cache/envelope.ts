/**
 * The Redis representation of an entry: one header line of lifetime marks, one line of tags (JSON),
 * then the serialized value. The marks after the first are offsets from `createdAt`, so they are
 * short; parsing touches only the first two lines and reads the digits in place, because on a
 * Redis-tier hit this parse costs as much as the GET itself.
 *
 *   sp2 <createdAt> <refreshAt−c> <freshUntil−c> <staleUntil−c> <graceUntil−c> <negative 0|1>\n
 *   ["tag",…]\n
 *   <payload>
 */

import type { CacheEntry } from './entry.js';

const HEAD = 'sp2 ';
const SPACE = 32;
const NEWLINE = 10;
const ZERO = 48;
// Shared by every untagged entry read, so a read allocates no array for them.
const NO_TAGS: readonly string[] = Object.freeze([]);

/** encodeEntry renders `entry` around an already serialized `payload`. */
export function encodeEntry(entry: CacheEntry, payload: string): string {
  const c = entry.createdAt;
  const tags = entry.tags.length === 0 ? '[]' : JSON.stringify(entry.tags);
  return `${HEAD}${c} ${entry.refreshAt - c} ${entry.freshUntil - c} ${entry.staleUntil - c} ${entry.graceUntil - c} ${entry.negative ? 1 : 0}\n${tags}\n${payload}`;
}

/** DecodedEnvelope is an entry whose value is still the serialized payload. */
export type DecodedEnvelope = CacheEntry<string>;

// Where the last readDigits stopped (-1: no digits there). Module state is safe: decoding is synchronous.
let cursor = 0;

/** readDigits reads a run of decimal digits at `from`; the usual marks (integer ms) are nothing else. */
function readDigits(text: string, from: number): number {
  let n = 0;
  let i = from;
  for (;;) {
    const digit = text.charCodeAt(i) - ZERO;
    if (!(digit >= 0 && digit <= 9)) break;
    n = n * 10 + digit;
    i++;
  }
  cursor = i > from && text.charCodeAt(i) === SPACE ? i + 1 : -1;
  return n;
}

/** decodeEntry parses what encodeEntry wrote; undefined for anything else (foreign or older data). */
export function decodeEntry(text: string): DecodedEnvelope | undefined {
  if (!text.startsWith(HEAD)) return undefined;
  const createdAt = readDigits(text, HEAD.length);
  const refresh = cursor < 0 ? Number.NaN : readDigits(text, cursor);
  const fresh = cursor < 0 ? Number.NaN : readDigits(text, cursor);
  const stale = cursor < 0 ? Number.NaN : readDigits(text, cursor);
  const grace = cursor < 0 ? Number.NaN : readDigits(text, cursor);
  const negative = text.charCodeAt(cursor);
  if (cursor < 0 || !(negative === ZERO || negative === ZERO + 1) || text.charCodeAt(cursor + 1) !== NEWLINE)
    return decodeSlowly(text); // fractional or odd marks from a custom clock, or not ours at all
  return withTags(text, cursor + 2, createdAt, refresh, fresh, stale, grace, negative === ZERO + 1);
}

function decodeSlowly(text: string): DecodedEnvelope | undefined {
  const first = text.indexOf('\n');
  if (first < 0) return undefined;
  const head = text.slice(HEAD.length, first).split(' ');
  if (head.length !== 6 || (head[5] !== '0' && head[5] !== '1')) return undefined;
  const [c, r, f, s, g] = head.map((mark) => (mark === '' ? Number.NaN : Number(mark))) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (![c, r, f, s, g].every(Number.isFinite)) return undefined;
  return withTags(text, first + 1, c, r, f, s, g, head[5] === '1');
}

function withTags(
  text: string,
  tagsAt: number,
  createdAt: number,
  refresh: number,
  fresh: number,
  stale: number,
  grace: number,
  negative: boolean,
): DecodedEnvelope | undefined {
  let tags: readonly string[] = NO_TAGS;
  let valueAt: number;
  if (text.startsWith('[]\n', tagsAt)) valueAt = tagsAt + 3;
  else {
    const end = text.indexOf('\n', tagsAt);
    if (end < 0) return undefined;
    try {
      const parsed: unknown = JSON.parse(text.slice(tagsAt, end));
      if (!Array.isArray(parsed)) return undefined;
      tags = parsed.map(String);
    } catch {
      return undefined;
    }
    valueAt = end + 1;
  }
  return {
    value: text.slice(valueAt),
    createdAt,
    refreshAt: createdAt + refresh,
    freshUntil: createdAt + fresh,
    staleUntil: createdAt + stale,
    graceUntil: createdAt + grace,
    tags,
    negative,
  };
}
