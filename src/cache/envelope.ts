/**
 * The Redis representation of an entry: one header line of lifetime marks, one line of tags (JSON),
 * then the serialized value. Parsing touches only the first two lines, so large values are not
 * scanned twice.
 *
 *   sp1 <createdAt> <refreshAt> <freshUntil> <staleUntil> <graceUntil> <negative 0|1>\n
 *   ["tag",…]\n
 *   <payload>
 */

import type { CacheEntry } from './entry.js';

const VERSION = 'sp1';

/** encodeEntry renders `entry` around an already serialized `payload`. */
export function encodeEntry(entry: CacheEntry, payload: string): string {
  const tags = entry.tags.length === 0 ? '[]' : JSON.stringify(entry.tags);
  return `${VERSION} ${entry.createdAt} ${entry.refreshAt} ${entry.freshUntil} ${entry.staleUntil} ${entry.graceUntil} ${entry.negative ? 1 : 0}\n${tags}\n${payload}`;
}

/** DecodedEnvelope is an entry whose value is still the serialized payload. */
export type DecodedEnvelope = CacheEntry<string>;

/** decodeEntry parses what encodeEntry wrote; undefined for anything else (foreign or older data). */
export function decodeEntry(text: string): DecodedEnvelope | undefined {
  const first = text.indexOf('\n');
  if (first < 0) return undefined;
  const second = text.indexOf('\n', first + 1);
  if (second < 0) return undefined;
  if (!text.startsWith(`${VERSION} `)) return undefined;
  const head = text.slice(VERSION.length + 1, first).split(' ');
  if (head.length !== 6) return undefined;
  const marks = [Number(head[0]), Number(head[1]), Number(head[2]), Number(head[3]), Number(head[4])];
  for (const mark of marks) if (!Number.isFinite(mark)) return undefined;
  const tagsText = text.slice(first + 1, second);
  let tags: string[] = [];
  if (tagsText !== '[]') {
    try {
      const parsed: unknown = JSON.parse(tagsText);
      if (!Array.isArray(parsed)) return undefined;
      tags = parsed.map(String);
    } catch {
      return undefined;
    }
  }
  const [createdAt, refreshAt, freshUntil, staleUntil, graceUntil] = marks as [
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    value: text.slice(second + 1),
    createdAt,
    refreshAt,
    freshUntil,
    staleUntil,
    graceUntil,
    tags,
    negative: head[5] === '1',
  };
}
