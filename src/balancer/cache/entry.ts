/**
 * A stored response and the keys it lives under. The primary key is the request path (with its
 * query) then the host, so "this path on every host" and "everything under /a/" are key-prefix
 * scans; the secondary (variant) key is the request's values of the response's Vary headers.
 */

import type { StoredTimes, Validators } from './policy.js';

/** StoredResponse is one cached response, everything needed to replay it and to age it. */
export interface StoredResponse extends StoredTimes, Validators {
  readonly status: number;
  readonly statusMessage: string;
  /** Raw header list as the backend sent it, hop-by-hop fields removed. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** Purge tags from the configured tag header. */
  readonly tags: readonly string[];
  /** Request headers the response varies on (lowercase, sorted). */
  readonly vary: readonly string[];
  /** The variant key this response answers. */
  readonly variant: string;
  /** When the store may drop it, ms since the epoch. */
  readonly expiresAt: number;
}

/** primaryKey is `PATH?QUERY HOST`: a request target cannot contain a space, so the split is unambiguous. */
export function primaryKey(host: string, target: string): string {
  return `${target} ${host}`;
}

/** hostOfKey and pathOfKey split a primary key. */
export function hostOfKey(key: string): string {
  return key.slice(key.lastIndexOf(' ') + 1);
}

/** pathOfKey is the `PATH?QUERY` part of a primary key. */
export function pathOfKey(key: string): string {
  return key.slice(0, key.lastIndexOf(' '));
}

/**
 * MAX_VARIANTS bounds the Vary variants one key holds. A response that varies on a header the
 * client controls (User-Agent, a custom one) would otherwise let each new value add a variant:
 * unbounded per key in Redis, and every lookup of the key read them all. Past the bound an older
 * variant makes room (memory: the oldest; Redis: any other).
 */
export const MAX_VARIANTS = 32;

/** storedBytes approximates what a response costs a store: body, headers and a fixed overhead. */
export function storedBytes(key: string, response: StoredResponse): number {
  let bytes = response.body.length + key.length + 256;
  for (const field of response.headers) bytes += field.length;
  return bytes;
}

/** PurgeTarget is one URL or prefix to purge: a path, on one host or (host undefined) on all. */
export interface PurgeTarget {
  readonly host: string | undefined;
  readonly path: string;
}

/** PurgeSelector is what one purge call removes: exact URLs, path prefixes, tags. */
export interface PurgeSelector {
  readonly urls: readonly PurgeTarget[];
  readonly prefixes: readonly PurgeTarget[];
  readonly tags: readonly string[];
}

/**
 * purgeTarget reads `https://host/path?q`, `//host/path` or `/path?q` into a PurgeTarget; the host
 * is lowercased and its port dropped, as the balancer keys by host without port. Undefined when
 * the text is neither an absolute URL nor a path.
 */
export function purgeTarget(text: string): PurgeTarget | undefined {
  if (text.startsWith('/') && !text.startsWith('//')) return { host: undefined, path: text };
  try {
    const url = new URL(text.startsWith('//') ? `http:${text}` : text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return { host: url.hostname.toLowerCase(), path: `${url.pathname}${url.search}` };
  } catch {
    return undefined;
  }
}

/** matchesUrl says whether a primary key is the purge target's URL. */
export function matchesUrl(key: string, target: PurgeTarget): boolean {
  return pathOfKey(key) === target.path && (target.host === undefined || hostOfKey(key) === target.host);
}

/** matchesPrefix says whether a primary key falls under the purge target's path prefix. */
export function matchesPrefix(key: string, target: PurgeTarget): boolean {
  return key.startsWith(target.path) && (target.host === undefined || hostOfKey(key) === target.host);
}

/** selectVariant picks the stored response whose variant key the request has. */
export function selectVariant(
  variants: readonly StoredResponse[],
  variantOf: (vary: readonly string[]) => string,
): StoredResponse | undefined {
  return variants.find((v) => v.variant === variantOf(v.vary));
}
