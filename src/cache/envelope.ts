/**
 * The Redis representation of an entry: one header line of lifetime marks, one line of tags (JSON),
 * then the serialized value. The marks after the first are offsets from `createdAt`, so they are
 * short.
 *
 *   sp2 <createdAt> <refreshAt−c> <freshUntil−c> <staleUntil−c> <graceUntil−c> <negative 0|1>\n
 *   ["tag",…]\n
 *   <payload>
 *
 * Entries are read as the bytes Redis sent (ioredis `getBuffer`): the header is parsed byte by byte
 * in place and only the payload becomes a string. On a Redis-tier hit the header otherwise cost a
 * third of parsing the value: turning its 55 bytes into a string, then reading them back one
 * character at a time. `freshPayloadAt` is the hit path's shortcut: it decides "fresh" and finds
 * the payload without building an entry.
 */

import type { CacheEntry } from './entry.js';

const HEAD = 'sp2 ';
// The bytes of HEAD.
const S = 0x73;
const P = 0x70;
const TWO = 0x32;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const ZERO = 0x30;
const ONE = 0x31;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
// Shared by every untagged entry read, so a read allocates no array for them.
const NO_TAGS: readonly string[] = Object.freeze([]);

/** encodeEntry renders `entry` around an already serialized `payload`. */
export function encodeEntry(entry: CacheEntry, payload: string): string {
  const c = entry.createdAt;
  const tags = entry.tags.length === 0 ? '[]' : JSON.stringify(entry.tags);
  return `${HEAD}${c} ${entry.refreshAt - c} ${entry.freshUntil - c} ${entry.staleUntil - c} ${entry.graceUntil - c} ${entry.negative ? 1 : 0}\n${tags}\n${payload}`;
}

const TOMBSTONE_HEAD = 'spdel ';
const TOMBSTONE_BYTES = Buffer.from(TOMBSTONE_HEAD, 'latin1');

/**
 * encodeTombstone renders the marker a delete leaves: `instance` and `seq` make it unique; `at`, the
 * clock time of the delete, lets a write replayed after an outage see that the key was deleted after
 * it was made (SET_IF_NOT_OLDER). Markers without it (older versions) are read the same.
 */
export function encodeTombstone(instance: string, seq: number, at?: number): string {
  return at === undefined
    ? `${TOMBSTONE_HEAD}${instance} ${seq}`
    : `${TOMBSTONE_HEAD}${instance} ${seq} ${at}`;
}

/** isTombstone says whether `data` is a marker encodeTombstone wrote (a miss, not a bad entry). */
export function isTombstone(data: Uint8Array): boolean {
  if (data.length < TOMBSTONE_BYTES.length) return false;
  for (let i = 0; i < TOMBSTONE_BYTES.length; i++) if (data[i] !== TOMBSTONE_BYTES[i]) return false;
  return true;
}

/** DecodedEnvelope is an entry whose value is still the serialized payload. */
export type DecodedEnvelope = CacheEntry<string>;

// Where the last readDigits/skipDigits stopped (-1: no digits there, or no space after them).
// Module state is safe: decoding is synchronous.
let cursor = 0;

function startsWithHead(data: Uint8Array): boolean {
  return data[0] === S && data[1] === P && data[2] === TWO && data[3] === SPACE;
}

/** readDigits reads a run of decimal digits at `from`; the usual marks (integer ms) are nothing else. */
function readDigits(data: Uint8Array, from: number): number {
  let n = 0;
  let i = from;
  for (;;) {
    // Past the end this is undefined - ZERO, NaN, which ends the run too.
    const digit = (data[i] as number) - ZERO;
    if (!(digit >= 0 && digit <= 9)) break;
    n = n * 10 + digit;
    i++;
  }
  cursor = i > from && data[i] === SPACE ? i + 1 : -1;
  return n;
}

/** skipDigits is readDigits for a mark whose value is not needed. */
function skipDigits(data: Uint8Array, from: number): void {
  let i = from;
  for (;;) {
    const digit = (data[i] as number) - ZERO;
    if (!(digit >= 0 && digit <= 9)) break;
    i++;
  }
  cursor = i > from && data[i] === SPACE ? i + 1 : -1;
}

/** lineEnd is the index of the first newline at or after `from`, or -1. */
function lineEnd(data: Uint8Array, from: number): number {
  // A loop, not Buffer#indexOf: a tags line is a few bytes, shorter than the native call's overhead.
  for (let i = from; i < data.length; i++) if (data[i] === NEWLINE) return i;
  return -1;
}

/**
 * freshPayloadAt returns where the payload starts in `data` when it is an entry still fresh at
 * `now` (before its refreshAt), else -1: not fresh, not ours, or in a form only decodeEntry reads
 * (fractional marks); decode those with decodeEntry. It checks the header as decodeEntry does but
 * only the tags line's brackets, and allocates nothing: a hit that needs no entry object (no memory
 * tier to keep it in) costs the GET and the parse of the value, little more.
 */
export function freshPayloadAt(data: Uint8Array, now: number): number {
  if (!startsWithHead(data)) return -1;
  const createdAt = readDigits(data, HEAD.length);
  if (cursor < 0) return -1;
  const refresh = readDigits(data, cursor);
  if (cursor < 0) return -1;
  skipDigits(data, cursor);
  if (cursor >= 0) skipDigits(data, cursor);
  if (cursor >= 0) skipDigits(data, cursor);
  if (cursor < 0) return -1;
  const negative = data[cursor];
  if (!(negative === ZERO || negative === ONE) || data[cursor + 1] !== NEWLINE) return -1;
  // The same sum decodeEntry stores as refreshAt, so both agree on the boundary.
  if (!(now < createdAt + refresh)) return -1;
  const tagsAt = cursor + 2;
  if (data[tagsAt] === OPEN_BRACKET && data[tagsAt + 1] === CLOSE_BRACKET && data[tagsAt + 2] === NEWLINE)
    return tagsAt + 3;
  const end = lineEnd(data, tagsAt);
  if (end < 0 || data[tagsAt] !== OPEN_BRACKET || data[end - 1] !== CLOSE_BRACKET) return -1;
  return end + 1;
}

/**
 * decodeEntry parses what encodeEntry wrote, as text or as the bytes Redis holds; undefined for
 * anything else (foreign or older data).
 */
export function decodeEntry(stored: string | Buffer): DecodedEnvelope | undefined {
  const data = typeof stored === 'string' ? Buffer.from(stored) : stored;
  if (!startsWithHead(data)) return undefined;
  const createdAt = readDigits(data, HEAD.length);
  const refresh = cursor < 0 ? Number.NaN : readDigits(data, cursor);
  const fresh = cursor < 0 ? Number.NaN : readDigits(data, cursor);
  const stale = cursor < 0 ? Number.NaN : readDigits(data, cursor);
  const grace = cursor < 0 ? Number.NaN : readDigits(data, cursor);
  const negative = cursor < 0 ? -1 : data[cursor];
  if (cursor < 0 || !(negative === ZERO || negative === ONE) || data[cursor + 1] !== NEWLINE)
    return decodeSlowly(data); // fractional or odd marks from a custom clock, or not ours at all
  return withTags(data, cursor + 2, createdAt, refresh, fresh, stale, grace, negative === ONE);
}

function decodeSlowly(data: Buffer): DecodedEnvelope | undefined {
  const first = lineEnd(data, 0);
  if (first < 0) return undefined;
  const head = data.toString('latin1', HEAD.length, first).split(' ');
  if (head.length !== 6 || (head[5] !== '0' && head[5] !== '1')) return undefined;
  const [c, r, f, s, g] = head.map((mark) => (mark === '' ? Number.NaN : Number(mark))) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (![c, r, f, s, g].every(Number.isFinite)) return undefined;
  return withTags(data, first + 1, c, r, f, s, g, head[5] === '1');
}

function withTags(
  data: Buffer,
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
  if (data[tagsAt] === OPEN_BRACKET && data[tagsAt + 1] === CLOSE_BRACKET && data[tagsAt + 2] === NEWLINE)
    valueAt = tagsAt + 3;
  else {
    const end = lineEnd(data, tagsAt);
    if (end < 0) return undefined;
    try {
      const parsed: unknown = JSON.parse(data.toString('utf8', tagsAt, end));
      if (!Array.isArray(parsed)) return undefined;
      tags = parsed.map(String);
    } catch {
      return undefined;
    }
    valueAt = end + 1;
  }
  return {
    value: data.toString('utf8', valueAt),
    createdAt,
    refreshAt: createdAt + refresh,
    freshUntil: createdAt + fresh,
    staleUntil: createdAt + stale,
    graceUntil: createdAt + grace,
    tags,
    negative,
  };
}
