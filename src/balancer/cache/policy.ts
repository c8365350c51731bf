/**
 * The pure decisions of the HTTP response cache (RFC 9111, shared cache): may this request use
 * the cache, may this response be stored and for how long, is a stored response fresh, stale but
 * servable, or in need of revalidation, and does it satisfy the client's conditional request.
 * Nothing here reads a clock or touches a socket: callers pass `now` (ms since the epoch).
 */

import type { IncomingHttpHeaders } from 'node:http';
import rangeParser from 'range-parser';
import { hostTarget, matchesHost, type PurgeTarget, purgeTarget, typedPath } from './entry.js';

/** CacheControl is a parsed Cache-Control header: lowercase directive → its value, or true when it has none. */
export type CacheControl = ReadonlyMap<string, string | true>;

const EMPTY: CacheControl = new Map();

// One list member: a token, optionally `=` a token or a quoted string (RFC 9111 5.2).
const DIRECTIVE = /^([!#$%&'*+.^_`|~0-9a-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[!#$%&'*+.^_`|~0-9a-z-]*))?$/i;
// Directives that only ever forbid storing or sharing; see parseCacheControl.
const RESTRICTIVE: ReadonlySet<string> = new Set([
  'no-store',
  'private',
  'no-cache',
  'must-revalidate',
  'proxy-revalidate',
]);

/**
 * parseCacheControl reads a Cache-Control header (repeated headers are one comma list). The first
 * occurrence of a directive wins; quoted values are unquoted. A member that is not a directive
 * (`private max-age=60`, `max-age=60;private`: a comma missing) gives none of its permissions, but
 * each restricting word in it (`private`, `no-store`, `no-cache`, `must-revalidate`) still
 * counts, as NGINX and Varnish look for those words anywhere in the header. Before, such a member
 * was read as the directive at its end (`max-age=60`) or as `max-age` with a bad value, and the
 * `private` answer to one client was stored and served to the next.
 */
export function parseCacheControl(header: string | readonly string[] | undefined): CacheControl {
  if (header === undefined) return EMPTY;
  const text = typeof header === 'string' ? header : header.join(',');
  if (text.trim() === '') return EMPTY;
  const out = new Map<string, string | true>();
  // Commas inside quoted values (e.g. no-cache="a, b") do not split directives.
  for (const match of text.matchAll(/(?:[^,"]|"(?:[^"\\]|\\.)*"?)+/g)) {
    const member = match[0].trim();
    const directive = DIRECTIVE.exec(member);
    if (directive === null) {
      // Quoted text included: a malformed member's quotes cannot be trusted to delimit anything.
      for (const word of member.split(/[^a-z-]+/i)) {
        const lower = word.toLowerCase();
        if (RESTRICTIVE.has(lower) && !out.has(lower)) out.set(lower, true);
      }
      continue;
    }
    const name = directive[1]!.toLowerCase();
    if (out.has(name)) continue;
    const raw = directive[2];
    out.set(name, raw === undefined ? true : raw.startsWith('"') ? raw.slice(1, -1).trim() : raw);
  }
  return out;
}

/**
 * deltaSeconds reads a delta-seconds directive in ms. A malformed value counts as 0 (RFC 9111
 * 1.2.2: treat it as stale rather than fresh); absent is undefined.
 */
export function deltaSeconds(cc: CacheControl, name: string): number | undefined {
  const value = cc.get(name);
  if (value === undefined) return undefined;
  if (value === true || !/^\d+$/.test(value)) return 0;
  return Math.min(Number(value), 2 ** 31) * 1000;
}

/** header reads one header as a single string (repeated ones joined by ", "). */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY = '(?:mon|tue|wed|thu|fri|sat|sun)';
const LONG_DAY = '(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)';
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// The three forms of RFC 9110 5.6.7: IMF-fixdate, obsolete RFC 850 and asctime.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
const RFC_850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, 'i');

/**
 * httpDate parses an HTTP date (RFC 9110 5.6.7: IMF-fixdate, RFC 850 or asctime, all GMT) into ms
 * since the epoch; undefined when absent or in any other format. Not Date.parse: it takes
 * `Expires: 2030` or `2030-01-01` as dates, which made such a response fresh for years, where
 * RFC 9111 5.3 (and NGINX) count an invalid Expires as already expired.
 */
export function httpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parts = dateParts(value.trim());
  if (parts === undefined) return undefined;
  const [day, month, year, h, m, s] = parts;
  const ms = Date.UTC(year, MONTHS.indexOf(month.toLowerCase()), day, h, m, s);
  // Date.UTC rolls 31 Feb or 24:00 over: such a date is not one.
  const check = new Date(ms);
  const exact =
    check.getUTCDate() === day &&
    check.getUTCHours() === h &&
    check.getUTCMinutes() === m &&
    check.getUTCSeconds() === s;
  return exact ? ms : undefined;
}

type DateParts = [day: number, month: string, year: number, h: number, m: number, s: number];

/** dateParts reads the fields of whichever of the three HTTP date forms `text` is. */
function dateParts(text: string): DateParts | undefined {
  const fix = IMF_FIXDATE.exec(text);
  if (fix !== null) return [Number(fix[1]), fix[2]!, Number(fix[3]), ...clock(fix, 4)];
  const old = RFC_850.exec(text);
  if (old !== null) {
    // Two-digit years as NGINX reads them (no clock here): 70-99 are 19xx, 00-69 are 20xx.
    const yy = Number(old[3]);
    return [Number(old[1]), old[2]!, yy < 70 ? 2000 + yy : 1900 + yy, ...clock(old, 4)];
  }
  const asc = ASCTIME.exec(text);
  if (asc !== null) return [Number(asc[2]), asc[1]!, Number(asc[6]), ...clock(asc, 3)];
  return undefined;
}

function clock(match: RegExpExecArray, first: number): [h: number, m: number, s: number] {
  return [Number(match[first]), Number(match[first + 1]), Number(match[first + 2])];
}

// ---------------------------------------------------------------------------------------------
// Requests

/** BypassReason says why a request does not use the cache at all. */
export type BypassReason = 'Method' | 'Precondition' | 'Upgrade' | 'Body';

/** RequestPolicy is what a request allows the cache to do. */
export type RequestPolicy =
  | { readonly use: false; readonly reason: BypassReason }
  | {
      readonly use: true;
      /** Request `no-store`: the response to it is not stored (a stored one may still answer it). */
      readonly noStore: boolean;
      /** Request `no-cache` (or `Pragma: no-cache`): a stored response must be revalidated first. */
      readonly noCache: boolean;
      /** Request `max-age`, ms: a stored response older than this must be revalidated. */
      readonly maxAge: number | undefined;
      /** Request `min-fresh`, ms: a stored response must stay fresh at least this much longer. */
      readonly minFresh: number | undefined;
      /** Request `max-stale`, ms (Infinity without a value): stale by up to this much is acceptable. */
      readonly maxStale: number | undefined;
      /** Request `only-if-cached`: answer from the cache or with 504, never from the backend. */
      readonly onlyIfCached: boolean;
      /** The request carries Authorization: only `public`/`s-maxage`/`must-revalidate` responses are stored. */
      readonly authorization: boolean;
    };

/**
 * requestPolicy decides whether a request goes through the cache. Only GET and HEAD do; requests
 * with If-Match/If-Unmodified-Since preconditions are passed to the backend untouched. Range and
 * If-Range requests do use it: the cache stores whole representations and cuts the range from
 * them (rangeDecision). A GET or HEAD with a body (`hasBody`, see requestHasBody) is passed
 * through too: the key does not hold the body and a fill sends none, so a search sent as a GET
 * with its query in the body (Elasticsearch, OpenSearch) was answered as the body-less request,
 * and that answer stored for every other query.
 */
export function requestPolicy(
  method: string | undefined,
  headers: IncomingHttpHeaders,
  hasBody = false,
): RequestPolicy {
  if (method !== 'GET' && method !== 'HEAD') return { use: false, reason: 'Method' };
  if (hasBody) return { use: false, reason: 'Body' };
  if (headers.upgrade !== undefined) return { use: false, reason: 'Upgrade' };
  if (headers['if-match'] !== undefined || headers['if-unmodified-since'] !== undefined)
    return { use: false, reason: 'Precondition' };
  const cc = parseCacheControl(headers['cache-control']);
  // Pragma: no-cache only counts when there is no Cache-Control (RFC 9111 5.4, for HTTP/1.0 clients).
  const pragmaNoCache =
    headers['cache-control'] === undefined &&
    /(^|,)\s*no-cache\s*(,|$)/i.test(header(headers, 'pragma') ?? '');
  return {
    use: true,
    noStore: cc.has('no-store'),
    noCache: cc.has('no-cache') || pragmaNoCache,
    maxAge: deltaSeconds(cc, 'max-age'),
    minFresh: deltaSeconds(cc, 'min-fresh'),
    // A bare max-stale accepts any staleness (RFC 9111 5.2.1.2).
    maxStale: cc.get('max-stale') === true ? Number.POSITIVE_INFINITY : deltaSeconds(cc, 'max-stale'),
    onlyIfCached: cc.has('only-if-cached'),
    authorization: headers.authorization !== undefined,
  };
}

/**
 * requestHasBody says whether a raw request header list announces a body: a Transfer-Encoding, or
 * a Content-Length other than 0 (an HTTP/2 request with DATA and no length shows as chunked).
 */
export function requestHasBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === 'transfer-encoding') return true;
    if (lower === 'content-length' && raw[i + 1]!.trim() !== '0') return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Storing

/** StoreOptions are the cache's own settings that storing depends on. */
export interface StoreOptions {
  /** Lifetime of a response with no explicit freshness; 0 = such responses are not stored. */
  defaultTtl: number;
  /** Largest body stored, bytes. */
  maxObjectSize: number;
  /** stale-while-revalidate window when the response names none, ms. */
  staleWhileRevalidate: number;
  /** stale-if-error window when the response names none, ms. */
  staleIfError: number;
}

/** NotStoredReason says why a response is not stored. */
export type NotStoredReason =
  | 'RequestNoStore'
  | 'Status'
  | 'NoStore'
  | 'Private'
  | 'SetCookie'
  | 'VaryStar'
  /** The backend did not get the Vary headers as the client sent them (varySeen). */
  | 'VaryUnseen'
  | 'Authorization'
  | 'NoFreshness'
  | 'TooLarge';

/**
 * RESOURCE_REASONS are the reasons a response gives about the resource itself, said by its current
 * representation, not by the request or a failing backend (a 5xx or 206, the request's own no-store
 * or Authorization: another client's request may be cacheable). They remove a stored copy
 * (supersedesStored) and turn coalescing off for a while (hit-for-miss).
 */
export const RESOURCE_REASONS: ReadonlySet<NotStoredReason> = new Set([
  'NoStore',
  'Private',
  'SetCookie',
  'VaryStar',
  'NoFreshness',
  'TooLarge',
]);

/**
 * supersedesStored says whether a revalidation's answer that may not be stored (for `reason`)
 * removes the stored copy it revalidated. It does when the reason is the resource's: the answer
 * (a full response, or a 304 whose headers now say so) is its current representation, newer than
 * the copy, and says it is not to be kept here (`no-store`, `private`, a `Set-Cookie`, `Vary: *`)
 * or cannot be (no freshness, over the size limit). The old copy serving on within its
 * stale-while-revalidate or stale-if-error window would hand out what the origin withdrew, as
 * Varnish kills the object a fetch supersedes. Not for a 5xx (Status: a failing backend is what
 * stale-if-error is for), nor for the request's own terms (its `no-store`, its Authorization) or
 * Vary headers the backend did not get as sent: another request may store the same answer.
 */
export function supersedesStored(reason: NotStoredReason): boolean {
  return RESOURCE_REASONS.has(reason);
}

/** Lifetime is how a stored response ages: all durations in ms. */
export interface Lifetime {
  /** Freshness lifetime: s-maxage, else max-age, else Expires − Date, else the default TTL. */
  readonly freshFor: number;
  /** Where `freshFor` came from, for logs and tests. */
  readonly source: 's-maxage' | 'max-age' | 'expires' | 'default';
  /** Age the response already had when it arrived (RFC 9111 4.2.3 corrected_initial_age). */
  readonly initialAge: number;
  /** Stale responses may be served while one background revalidation runs, this long. */
  readonly staleWhileRevalidate: number;
  /** Stale responses may be served when the backend fails, this long past freshness. */
  readonly staleIfError: number;
  /** `no-cache` response: revalidate before every use. */
  readonly noCache: boolean;
  /** `must-revalidate`, `proxy-revalidate` or `s-maxage`: never served stale. */
  readonly mustRevalidate: boolean;
}

/** StoreDecision is whether, and for how long, a response may be stored. */
export type StoreDecision =
  | { readonly store: false; readonly reason: NotStoredReason }
  | ({ readonly store: true } & Lifetime);

// Statuses a cache may store without explicit freshness (RFC 9110 15.1), less 206: the cache keeps
// whole representations and cuts ranges from them.
const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([
  200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/** StoreInput is one response with the request that asked for it. */
export interface StoreInput {
  readonly status: number;
  readonly request: RequestPolicy & { use: true };
  readonly responseHeaders: IncomingHttpHeaders;
  /** When the request was sent and the response arrived (ms since the epoch). */
  readonly requestTime: number;
  readonly responseTime: number;
}

/**
 * storeDecision applies RFC 9111 section 3 for a shared cache: `no-store` and `private` responses,
 * responses that set cookies (so one client's session is never handed to another), `Vary: *` and
 * requests with Authorization (unless the response says `public`, `s-maxage` or
 * `must-revalidate`) are not stored; neither is anything without explicit freshness unless a
 * default TTL is configured (no heuristic freshness), nor a 5xx other than 501.
 */
export function storeDecision(input: StoreInput, options: StoreOptions): StoreDecision {
  const { status, request, responseHeaders: headers } = input;
  if (request.noStore) return { store: false, reason: 'RequestNoStore' };
  if (status < 200 || status === 206 || status === 304 || (status >= 500 && status !== 501))
    return { store: false, reason: 'Status' };
  const cc = parseCacheControl(headers['cache-control']);
  if (cc.has('no-store')) return { store: false, reason: 'NoStore' };
  // A `private="field"` form still allows storing the rest; we do not edit headers, so refuse it all.
  if (cc.has('private')) return { store: false, reason: 'Private' };
  if (headers['set-cookie'] !== undefined) return { store: false, reason: 'SetCookie' };
  const vary = varyNames(headers.vary);
  if (vary === '*') return { store: false, reason: 'VaryStar' };
  if (request.authorization && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate'))
    return { store: false, reason: 'Authorization' };
  const declared = Number(header(headers, 'content-length'));
  if (Number.isFinite(declared) && declared > options.maxObjectSize)
    return { store: false, reason: 'TooLarge' };

  const dateValue = httpDate(header(headers, 'date')) ?? input.responseTime;
  const freshness = freshnessLifetime(cc, headers, dateValue, status, options.defaultTtl);
  const noCache = cc.has('no-cache');
  // A no-cache response with a validator is worth keeping: each use is a cheap 304.
  if (freshness === undefined && !(noCache && hasValidator(headers)))
    return { store: false, reason: 'NoFreshness' };
  const mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage');
  return {
    store: true,
    freshFor: freshness?.ms ?? 0,
    source: freshness?.source ?? 'default',
    initialAge: initialAge(headers, dateValue, input.requestTime, input.responseTime),
    staleWhileRevalidate: mustRevalidate
      ? 0
      : (deltaSeconds(cc, 'stale-while-revalidate') ?? options.staleWhileRevalidate),
    staleIfError: mustRevalidate ? 0 : (deltaSeconds(cc, 'stale-if-error') ?? options.staleIfError),
    noCache,
    mustRevalidate,
  };
}

function freshnessLifetime(
  cc: CacheControl,
  headers: IncomingHttpHeaders,
  dateValue: number,
  status: number,
  defaultTtl: number,
): { ms: number; source: Lifetime['source'] } | undefined {
  // A shared cache prefers s-maxage over max-age (RFC 9111 4.2.1).
  const sMaxAge = deltaSeconds(cc, 's-maxage');
  if (sMaxAge !== undefined) return { ms: sMaxAge, source: 's-maxage' };
  const maxAge = deltaSeconds(cc, 'max-age');
  if (maxAge !== undefined) return { ms: maxAge, source: 'max-age' };
  const expiresHeader = header(headers, 'expires');
  if (expiresHeader !== undefined) {
    // An invalid Expires (such as "0") means already expired.
    const expires = httpDate(expiresHeader);
    return { ms: expires === undefined ? 0 : Math.max(0, expires - dateValue), source: 'expires' };
  }
  if (defaultTtl > 0 && HEURISTIC_STATUSES.has(status) && !cc.has('no-cache'))
    return { ms: defaultTtl, source: 'default' };
  return undefined;
}

/**
 * ageSeconds reads an Age header: delta-seconds (digits only), past 2^31 counted as 2^31 (RFC 9111
 * 1.2.2: a longer one would be Infinity, which the Redis store's JSON turns into null, and a null
 * age made the response fresh again); undefined when absent or not delta-seconds (`-5`, `1e3`,
 * `0x10`), which the cache counts as no age.
 */
export function ageSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Math.min(Number(value), 2 ** 31);
}

/** initialAge is RFC 9111 4.2.3's corrected_initial_age, ms. */
export function initialAge(
  headers: IncomingHttpHeaders,
  dateValue: number,
  requestTime: number,
  responseTime: number,
): number {
  const ageValue = (ageSeconds(header(headers, 'age')) ?? 0) * 1000;
  const apparentAge = Math.max(0, responseTime - dateValue);
  const correctedAgeValue = ageValue + (responseTime - requestTime);
  return Math.max(apparentAge, correctedAgeValue);
}

/** hasValidator says whether a response carries an ETag or Last-Modified to revalidate with. */
export function hasValidator(headers: IncomingHttpHeaders): boolean {
  return headers.etag !== undefined || headers['last-modified'] !== undefined;
}

// A field name is a token (RFC 9110 5.1).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * varyNames lists the request headers a response varies on, lowercased, sorted and deduplicated;
 * `'*'` when it varies on something no header describes. Names are split at commas and at
 * whitespace (a header name has none; NGINX and Varnish split there too): `Vary: Accept-Encoding
 * Cookie` was one name no request has, so every client's Cookie selected the same variant and one
 * user's page went to the next. Anything that is not a header name counts as `*`.
 */
export function varyNames(vary: string | readonly string[] | undefined): readonly string[] | '*' {
  if (vary === undefined) return [];
  const text = typeof vary === 'string' ? vary : vary.join(',');
  const names = new Set<string>();
  for (const part of text.split(/[,\s]+/)) {
    const name = part.toLowerCase();
    if (name === '') continue;
    if (name === '*' || !HEADER_NAME.test(name)) return '*';
    names.add(name);
  }
  return [...names].sort();
}

/**
 * variantKey is the secondary cache key: the request's values of the Vary headers, whitespace
 * normalised, so `Accept-Encoding: gzip` and `Accept-Encoding:  gzip` share an entry.
 * Accept-Encoding is also put in one order and case (acceptEncodingKey).
 */
export function variantKey(names: readonly string[], headers: IncomingHttpHeaders): string {
  if (names.length === 0) return '';
  return JSON.stringify(
    names.map((name) => {
      const value = header(headers, name);
      if (value === undefined) return null;
      if (name === 'accept-encoding') return acceptEncodingKey(value);
      return value
        .replace(/\s*,\s*/g, ',')
        .replace(/\s+/g, ' ')
        .trim();
    }),
  );
}

/**
 * acceptEncodingKey normalises an Accept-Encoding value as RFC 9111 4.1 lets a cache match Vary
 * headers: codings are case-insensitive and their order means nothing (preference is the `q`
 * weight, RFC 9110 12.5.3), so members are lowercased, stripped of whitespace and sorted.
 * Browsers, curl and HTTP libraries each spell the same codings their own way (`gzip, deflate`,
 * `deflate, gzip`, `GZIP,deflate`); before, each spelling was a variant of its own, a MISS to the
 * backend and a stored copy each, and with 32 variants per key, eviction of the others.
 */
function acceptEncodingKey(value: string): string {
  return value
    .toLowerCase()
    .split(',')
    .map((member) => member.replace(/\s+/g, ''))
    .filter((member) => member !== '')
    .sort()
    .join(',');
}

/**
 * varySeen says whether the backend got each of the `names` request headers exactly as the client
 * sent them (`client` and `forwarded` are raw header lists). A response is stored under the
 * client's values of its Vary headers, so it must have been built from them: a client naming a
 * header in `Connection` has the balancer drop it on the way (hop-by-hop), and with
 * `Accept-Language: fr` and `Connection: Accept-Language` one request stored the backend's default
 * (English) page as the French variant for every French reader. Headers the balancer sets itself
 * (X-Forwarded-For, X-Request-Id) differ too: a response varying on them is not shared. But
 * X-Forwarded-Host and X-Forwarded-Proto, which it sets from the Host and the scheme, hold what
 * the primary key holds already: a `Vary` on them (as frameworks that build links from them send)
 * still lets the response be stored.
 */
export function varySeen(
  names: readonly string[],
  client: readonly string[],
  forwarded: readonly string[],
): boolean {
  return names.every(
    (name) => KEYED_BY_BALANCER.has(name) || rawValues(client, name) === rawValues(forwarded, name),
  );
}

// Request headers the balancer sets from what the primary key holds (the Host, the scheme).
const KEYED_BY_BALANCER: ReadonlySet<string> = new Set(['x-forwarded-host', 'x-forwarded-proto']);

/** rawValues lists the values of header `lower` in a raw header list, in order, as one string. */
function rawValues(raw: readonly string[], lower: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== lower) continue;
    out = out === undefined ? raw[i + 1]! : `${out}\n${raw[i + 1]!}`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Serving

/** StoredTimes is what serving decisions need of a stored response. */
export interface StoredTimes extends Lifetime {
  /** When the response (or its last 304) arrived, ms since the epoch. */
  readonly responseTime: number;
}

/** currentAge is RFC 9111 4.2.3's current_age, ms. */
export function currentAge(stored: StoredTimes, now: number): number {
  return stored.initialAge + Math.max(0, now - stored.responseTime);
}

/** RevalidateReason says why a stored response must be revalidated before use. */
export type RevalidateReason =
  | 'Expired'
  | 'ResponseNoCache'
  | 'RequestNoCache'
  | 'RequestMaxAge'
  | 'RequestMinFresh';

/** ServeDecision is what to do with a stored response for a request. */
export type ServeDecision =
  | { readonly action: 'fresh'; readonly age: number }
  | {
      readonly action: 'stale';
      readonly age: number;
      /** What allows the stale use: the response's window or the client's `max-stale`. */
      readonly allowedBy: 'stale-while-revalidate' | 'max-stale';
    }
  | { readonly action: 'revalidate'; readonly age: number; readonly reason: RevalidateReason };

/**
 * serveDecision: a fresh response that the request accepts is served; a stale one within its
 * stale-while-revalidate window, or within the client's `max-stale`, is served while a background
 * revalidation runs (never for must-revalidate — which `s-maxage` implies for a shared cache —
 * nor when the request itself asks for revalidation); anything else is revalidated with the
 * backend first.
 */
export function serveDecision(
  stored: StoredTimes,
  request: RequestPolicy & { use: true },
  now: number,
): ServeDecision {
  const age = currentAge(stored, now);
  if (stored.noCache) return { action: 'revalidate', age, reason: 'ResponseNoCache' };
  if (request.noCache) return { action: 'revalidate', age, reason: 'RequestNoCache' };
  if (request.maxAge !== undefined && age > request.maxAge)
    return { action: 'revalidate', age, reason: 'RequestMaxAge' };
  if (request.minFresh !== undefined && stored.freshFor - age < request.minFresh)
    return { action: 'revalidate', age, reason: 'RequestMinFresh' };
  if (age < stored.freshFor) return { action: 'fresh', age };
  if (stored.mustRevalidate) return { action: 'revalidate', age, reason: 'Expired' };
  if (age < stored.freshFor + stored.staleWhileRevalidate)
    return { action: 'stale', age, allowedBy: 'stale-while-revalidate' };
  if (request.maxStale !== undefined && age < stored.freshFor + request.maxStale)
    return { action: 'stale', age, allowedBy: 'max-stale' };
  return { action: 'revalidate', age, reason: 'Expired' };
}

/**
 * staleIfErrorAllows says whether a stored response may stand in for a failed backend now. Never a
 * `no-cache` one (RFC 9111 4.2.4: no stale response where no-cache prohibits it, whatever the
 * stale-if-error window): it is stored only to be validated on each use, and the backend may say
 * no (`public, no-cache` for content it authorises per request). Before, with a stale-if-error
 * window, a backend outage handed it to a client the backend had just refused with a 401.
 */
export function staleIfErrorAllows(stored: StoredTimes, now: number): boolean {
  if (stored.mustRevalidate || stored.noCache) return false;
  return currentAge(stored, now) < stored.freshFor + stored.staleIfError;
}

/**
 * retentionMs is how long a stored response is kept: fresh, then as long as any stale use remains —
 * its own stale windows, and `keepStale` to revalidate it cheaply (with validators) or to answer a
 * client's `max-stale` (unless must-revalidate forbids serving it stale).
 */
export function retentionMs(stored: Lifetime, hasValidators: boolean, keepStale: number): number {
  const keep = hasValidators || !stored.mustRevalidate ? keepStale : 0;
  const staleUse = Math.max(stored.staleWhileRevalidate, stored.staleIfError, keep);
  return Math.max(1000, stored.freshFor - stored.initialAge + staleUse);
}

// ---------------------------------------------------------------------------------------------
// Conditional requests

/** Validators are a stored response's ETag and Last-Modified. */
export interface Validators {
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/**
 * notModified says whether a client's conditional GET/HEAD is satisfied by the stored response, so
 * it can get a 304 from the cache (RFC 9110 13.1.2, 13.1.3): If-None-Match by weak comparison;
 * If-Modified-Since only when there is no If-None-Match.
 */
export function notModified(headers: IncomingHttpHeaders, stored: Validators): boolean {
  const inm = header(headers, 'if-none-match');
  if (inm !== undefined) {
    if (inm.trim() === '*') return true;
    if (stored.etag === undefined) return false;
    const ours = weak(stored.etag);
    return inm.split(',').some((tag) => weak(tag.trim()) === ours);
  }
  const ims = httpDate(header(headers, 'if-modified-since'));
  const lastModified = httpDate(stored.lastModified);
  return ims !== undefined && lastModified !== undefined && lastModified <= ims;
}

/**
 * notModifiedSelects says whether a backend's 304 may update the stored response it revalidated
 * (RFC 9111 4.3.4). A strong ETag in the 304 selects it only when the stored ETag is that same
 * strong one: another ETag (or one the stored response lacks) names another representation, and
 * the 304 must not update the stored copy at all. A weak ETag selects by weak comparison, and a
 * Last-Modified without an ETag by equal dates. A 304 naming no validator the stored response also
 * has is taken as the answer to the ones sent, as NGINX and Varnish take it (many servers send a
 * bare 304; RFC 9111 would refuse it whenever the stored response has a validator). Before, any
 * 304 updated the copy: a 304 with `ETag: "v2"` turned the stored "v1" body into one labelled
 * "v2", served and revalidated as that for its whole new max-age.
 */
export function notModifiedSelects(stored: Validators, response: IncomingHttpHeaders): boolean {
  const etag = header(response, 'etag')?.trim();
  const ours = stored.etag?.trim();
  if (etag !== undefined) {
    if (!etag.startsWith('W/')) return ours === etag;
    return ours !== undefined && weak(ours) === weak(etag);
  }
  const lastModified = header(response, 'last-modified');
  if (lastModified === undefined || stored.lastModified === undefined) return true;
  const theirs = httpDate(lastModified);
  return theirs !== undefined && theirs === httpDate(stored.lastModified);
}

/**
 * conditionalApplies says whether a response of this status may be turned into a 304 for a
 * client's If-None-Match/If-Modified-Since: only a 2xx (RFC 9110 13.2.1: a server ignores the
 * conditions when it would answer otherwise). A stored 404 with an ETag answered `304` would tell
 * the client to keep using its old copy of a resource that is gone.
 */
export function conditionalApplies(status: number): boolean {
  return status >= 200 && status < 300;
}

function weak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** isConditional says whether a request carries If-None-Match or If-Modified-Since. */
export function isConditional(headers: IncomingHttpHeaders): boolean {
  return headers['if-none-match'] !== undefined || headers['if-modified-since'] !== undefined;
}

// Headers a 304 must not replace in the stored response (RFC 9111 3.2 and the framing ones).
const KEEP_ON_304: ReadonlySet<string> = new Set([
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'content-range',
  'x-cache',
]);

/**
 * mergeNotModified updates a stored response's raw header list with the header fields of a 304
 * (RFC 9111 4.3.4): each field the 304 carries replaces the stored one of the same name.
 */
export function mergeNotModified(stored: readonly string[], notModifiedRaw: readonly string[]): string[] {
  const replaced = new Set<string>();
  for (let i = 0; i < notModifiedRaw.length; i += 2) {
    const lower = notModifiedRaw[i]!.toLowerCase();
    if (!KEEP_ON_304.has(lower)) replaced.add(lower);
  }
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) {
    if (!replaced.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  }
  for (let i = 0; i < notModifiedRaw.length; i += 2) {
    if (replaced.has(notModifiedRaw[i]!.toLowerCase())) out.push(notModifiedRaw[i]!, notModifiedRaw[i + 1]!);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Range requests (RFC 9110 14)

/** RangeSource is the response a range would be cut from. */
export interface RangeSource {
  readonly status: number;
  /** Its headers: ETag, Last-Modified and Date decide If-Range. */
  readonly headers: IncomingHttpHeaders;
  /** Its body length in bytes; undefined when not known before the body is read (chunked). */
  readonly size: number | undefined;
}

/** WholeReason says why a request gets the whole response rather than a range of it. */
export type WholeReason =
  | 'NoRange'
  | 'Method'
  | 'Status'
  | 'IfRange'
  | 'UnknownLength'
  | 'Unit'
  | 'MultipleRanges'
  | 'Invalid'
  | 'SuffixCoversAll';

/** RangeDecision is how to answer a request's Range from a whole response. */
export type RangeDecision =
  | { readonly action: 'whole'; readonly reason: WholeReason }
  /** 206 with bytes `start`..`end` (inclusive) of `size`. */
  | { readonly action: 'partial'; readonly start: number; readonly end: number; readonly size: number }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { readonly action: 'unsatisfiable'; readonly size: number };

/**
 * rangeDecision answers a request's `Range` from a whole 200 response, as NGINX does from its
 * cache: a GET with one `bytes=` range (`first-last`, `first-`, `-suffix`) gets that range, one
 * that no byte of the body satisfies gets a 416. Everything else gets the whole response, which
 * RFC 9110 14.2 always allows (a server may ignore Range): HEAD and other methods, statuses other
 * than 200, an If-Range that does not hold, a body of unknown length, another unit, more than one
 * range, and a malformed header.
 */
export function rangeDecision(
  method: string | undefined,
  request: IncomingHttpHeaders,
  response: RangeSource,
): RangeDecision {
  const range = header(request, 'range');
  if (range === undefined) return { action: 'whole', reason: 'NoRange' };
  if (method !== 'GET') return { action: 'whole', reason: 'Method' };
  if (response.status !== 200) return { action: 'whole', reason: 'Status' };
  const ifRange = header(request, 'if-range');
  if (ifRange !== undefined && !ifRangeHolds(ifRange, response.headers))
    return { action: 'whole', reason: 'IfRange' };
  const { size } = response;
  if (size === undefined) return { action: 'whole', reason: 'UnknownLength' };
  const equals = range.indexOf('=');
  if (equals === -1) return { action: 'whole', reason: 'Invalid' };
  // range-parser gives the unit only with a satisfiable range; an unknown unit is never a 416.
  if (range.slice(0, equals).trim().toLowerCase() !== 'bytes') return { action: 'whole', reason: 'Unit' };
  // Several ranges would need multipart/byteranges; the whole body is the allowed alternative.
  if (range.includes(',')) return { action: 'whole', reason: 'MultipleRanges' };
  const parsed = rangeParser(size, range);
  if (parsed === -2) return { action: 'whole', reason: 'Invalid' };
  if (parsed === -1) {
    // range-parser 1.x calls a suffix longer than the body unsatisfiable; RFC 9110 14.1.3 says it
    // selects the whole body (range-parser 2, which agrees, needs Node 22).
    if (/^-\s*0*[1-9]\d*$/.test(range.slice(equals + 1).trim()))
      return { action: 'whole', reason: 'SuffixCoversAll' };
    return { action: 'unsatisfiable', size };
  }
  const only = parsed[0]!;
  return { action: 'partial', start: only.start, end: only.end, size };
}

/**
 * ifRangeHolds evaluates If-Range (RFC 9110 13.1.5): an entity tag holds when it and the
 * response's ETag are both strong and identical; a date holds when it is exactly the response's
 * Last-Modified and that is a strong validator (RFC 9110 8.8.2.2: at least a second before the
 * response's Date).
 */
export function ifRangeHolds(value: string, response: IncomingHttpHeaders): boolean {
  const validator = value.trim();
  if (validator.startsWith('"') || validator.startsWith('W/')) {
    const etag = header(response, 'etag')?.trim();
    return !validator.startsWith('W/') && etag !== undefined && etag === validator;
  }
  const date = httpDate(validator);
  const lastModified = httpDate(header(response, 'last-modified'));
  const responseDate = httpDate(header(response, 'date'));
  return (
    date !== undefined &&
    date === lastModified &&
    responseDate !== undefined &&
    responseDate - lastModified >= 1000
  );
}

// ---------------------------------------------------------------------------------------------
// Invalidation (RFC 9111 4.4)

/**
 * invalidatedTargets lists the URLs whose stored responses an unsafe request's answer makes wrong:
 * none for an error (4xx, 5xx); else the request target on the request's key host (`shop`,
 * `shop:6666`), and each `Location`/`Content-Location` value resolved against it whose host is
 * the request's (RFC 9111 4.4: a cache must not invalidate another host's URI on this response's
 * word). Hosts are compared as a purge compares them (matchesHost): by name, and by port when
 * both name one, so `http://shop:6666/x` in the answer to a request keyed `shop:6666` counts.
 * Paths are kept as written (a relative one merged with the target, RFC 3986 5.2), as a purge by
 * URL keeps them and as keys hold what clients send: before, each went through URL's
 * serialisation, so `Location: /items/{id}` or `/q?name='x'` looked for `/items/%7Bid%7D` and
 * `/q?name=%27x%27` and dropped nothing a client sending those characters raw had stored.
 */
export function invalidatedTargets(
  status: number,
  keyHost: string,
  target: string,
  locations: readonly string[],
): PurgeTarget[] {
  if (status >= 400) return [];
  const targets = [hostTarget(keyHost, target)];
  if (keyHost === '') return targets;
  for (const location of locations) {
    const reference = location.trim();
    const named = ABSOLUTE_REFERENCE.test(reference)
      ? purgeTarget(reference)
      : hostTarget(keyHost, mergedPath(target, reference));
    if (named === undefined || !matchesHost(keyHost, named)) continue;
    if (!targets.some((t) => t.host === named.host && t.port === named.port && t.path === named.path))
      targets.push(named);
  }
  return targets;
}

// A reference with a scheme (`http:`, `mailto:`) or an authority (`//host`): purgeTarget reads it.
const ABSOLUTE_REFERENCE = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

/**
 * mergedPath resolves a relative reference (`/x`, `y`, `../z`, `?q`) against a request target as
 * RFC 3986 5.2.2 does, its characters left as written (a `#fragment` dropped, dot segments
 * resolved as the balancer resolves a request's).
 */
function mergedPath(target: string, reference: string): string {
  const ref = reference.replace(/#.*$/s, '');
  const queryAt = target.indexOf('?');
  const basePath = queryAt < 0 ? target : target.slice(0, queryAt);
  if (ref === '') return target;
  if (ref.startsWith('?')) return `${basePath}${ref}`;
  if (ref.startsWith('/')) return typedPath(ref);
  return typedPath(`${basePath.slice(0, basePath.lastIndexOf('/') + 1)}${ref}`);
}

/** rawToHeaders lowercases a raw header list into Node's IncomingHttpHeaders shape. */
export function rawToHeaders(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const existing = out[name];
    if (name === 'set-cookie')
      out[name] = existing === undefined ? [value] : [...(existing as string[]), value];
    else out[name] = existing === undefined ? value : `${existing as string}, ${value}`;
  }
  return out as IncomingHttpHeaders;
}

/**
 * tagsOf reads cache tags from a response header such as Cache-Tag (comma separated) or
 * Surrogate-Key (space separated): both separators are accepted.
 */
export function tagsOf(headers: IncomingHttpHeaders, name: string): string[] {
  const value = header(headers, name.toLowerCase());
  if (value === undefined) return [];
  return [...new Set(value.split(/[,\s]+/).filter((tag) => tag !== ''))];
}

/** EMPTY_CACHE_CONTROL is a parsed empty header. */
export const EMPTY_CACHE_CONTROL = EMPTY;
