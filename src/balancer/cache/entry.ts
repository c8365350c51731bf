/**
 * A stored response and the keys it lives under. The primary key is the request path (with its
 * query) then the scheme and host, so "this path on every host" and "everything under /a/" are key-prefix
 * scans; the secondary (variant) key is the request's values of the response's Vary headers.
 */

import { removeDotSegments } from '../target.js';
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

/** KEY_SCHEMES are the schemes a primary key may carry, as the request came in (TLS or not). */
export const KEY_SCHEMES = ['http', 'https'] as const;

/**
 * primaryKey is `PATH?QUERY SCHEME://HOST`: a request target cannot contain a space, so the split is
 * unambiguous. The scheme is part of it, as in NGINX's `$scheme$proxy_host$request_uri`: the backend
 * gets it as X-Forwarded-Proto and may build its answer from it (redirects, absolute links), so an
 * `http://` and an `https://` request for one URL are two entries, never one answer for both.
 */
export function primaryKey(
  host: string,
  target: string,
  scheme: (typeof KEY_SCHEMES)[number] = 'http',
): string {
  return `${target} ${scheme}://${host}`;
}

/** hostOfKey and pathOfKey split a primary key; its scheme is left out (a purge takes both). */
export function hostOfKey(key: string): string {
  const origin = key.slice(key.lastIndexOf(' ') + 1);
  const scheme = origin.indexOf('://');
  return scheme < 0 ? origin : origin.slice(scheme + 3);
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
  /** The host name, lowercase, without a port. */
  readonly host: string | undefined;
  /**
   * The port the URL named (not the scheme's default). Absent: the host at every port. Present:
   * keys of that port and the portless key, which is how requests to the balancer's own port
   * (maybe this one) are stored.
   */
  readonly port?: string;
  readonly path: string;
}

/** PurgeSelector is what one purge call removes: exact URLs, path prefixes, tags. */
export interface PurgeSelector {
  readonly urls: readonly PurgeTarget[];
  readonly prefixes: readonly PurgeTarget[];
  readonly tags: readonly string[];
}

// The scheme and authority of an absolute URL: what comes after is the request target as typed.
const ORIGIN = /^(?:[a-z][a-z0-9+.-]*:)?\/\/[^/?#]*/i;

/**
 * purgeTarget reads `https://host/path?q`, `//host/path` or `/path?q` into a PurgeTarget; the host
 * is lowercased, and a port is kept only when it is not the scheme's default (URL drops that one).
 * The path is kept as written (less a `#fragment`, its `.`/`..` segments resolved as the balancer
 * resolves a request's), as a path-only target always was: keys hold the request target as the
 * client sent it, and URL's serialisation percent-encodes `'` in a query and `{`, `}`, `"`, `` ` ``
 * in a path; before, a purge of `https://shop/q?name='x'` looked for `/q?name=%27x%27` and
 * removed nothing (`purged: 0`) while the copy the client stored stayed a HIT. Undefined when the
 * text is neither an absolute URL nor a path.
 */
export function purgeTarget(text: string): PurgeTarget | undefined {
  if (text.startsWith('/') && !text.startsWith('//')) return { host: undefined, path: text };
  let url: URL;
  try {
    url = new URL(text.startsWith('//') ? `http:${text}` : text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const host = url.hostname.toLowerCase();
  const origin = ORIGIN.exec(text);
  const path = origin === null ? `${url.pathname}${url.search}` : typedPath(text.slice(origin[0].length));
  return url.port === '' ? { host, path } : { host, port: url.port, path };
}

/** typedPath is the request target after an absolute URL's authority, as a request carries it. */
export function typedPath(rest: string): string {
  const withoutFragment = rest.replace(/#.*$/s, '');
  // Dot segments resolved as the balancer resolves them before a request reaches the cache.
  const request = { url: withoutFragment.startsWith('/') ? withoutFragment : `/${withoutFragment}` };
  removeDotSegments(request);
  return request.url;
}

/** hostTarget is the purge target of `path` on a key's host (`shop`, `shop:6666`, `[::1]:8443`). */
export function hostTarget(keyHost: string, path: string): PurgeTarget {
  const { name, port } = splitHost(keyHost);
  return port === undefined ? { host: name, path } : { host: name, port, path };
}

/** splitHost splits a key's host into its name and its port, if it has one. */
export function splitHost(keyHost: string): { name: string; port: string | undefined } {
  // An IPv6 literal keeps its colons inside the brackets.
  const colon = keyHost.indexOf(':', keyHost.startsWith('[') ? keyHost.indexOf(']') : 0);
  return colon < 0
    ? { name: keyHost, port: undefined }
    : { name: keyHost.slice(0, colon), port: keyHost.slice(colon + 1) };
}

/**
 * matchesHost says whether a key's host is one the purge target names. Keys keep a port only when
 * it is neither the balancer's nor the scheme's default, so a host purge without a port takes
 * every port (a host purge that left `shop:8443` serving was the bug), and one with a port takes
 * that port and the portless key (requests to the balancer's own port, which may be that one).
 */
export function matchesHost(keyHost: string, target: PurgeTarget): boolean {
  if (target.host === undefined) return true;
  const { name, port } = splitHost(keyHost);
  return name === target.host && (target.port === undefined || port === undefined || port === target.port);
}

/** matchesUrl says whether a primary key is the purge target's URL. */
export function matchesUrl(key: string, target: PurgeTarget): boolean {
  return pathOfKey(key) === target.path && matchesHost(hostOfKey(key), target);
}

/** matchesPrefix says whether a primary key falls under the purge target's path prefix. */
export function matchesPrefix(key: string, target: PurgeTarget): boolean {
  return key.startsWith(target.path) && matchesHost(hostOfKey(key), target);
}

/** selectVariant picks the stored response whose variant key the request has. */
export function selectVariant(
  variants: readonly StoredResponse[],
  variantOf: (vary: readonly string[]) => string,
): StoredResponse | undefined {
  return variants.find((v) => v.variant === variantOf(v.vary));
}
