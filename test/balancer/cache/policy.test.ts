// The pure decisions of the HTTP cache, table-driven: reason tokens, not messages.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import {
  HitForMiss,
  hitForMissMs,
  httpDate,
  ifRangeHolds,
  invalidatedTargets,
  type Lifetime,
  matchesHost,
  mergeNotModified,
  type NotStoredReason,
  notModified,
  notModifiedSelects,
  type PurgeTarget,
  parseCacheControl,
  purgeTarget,
  type RequestPolicy,
  rangeDecision,
  requestHasBody,
  requestPolicy,
  retentionMs,
  serveDecision,
  staleIfErrorAllows,
  storeDecision,
  supersedesStored,
  tagsOf,
  type Validators,
  variantKey,
  varyNames,
  varySeen,
} from '../../../src/balancer/cache/index.js';

const options = { defaultTtl: 0, maxObjectSize: 1000, staleWhileRevalidate: 0, staleIfError: 0 };
const NOW = Date.parse('2026-11-28T12:00:00Z');
const DATE = new Date(NOW).toUTCString();
const plainGet = requestPolicy('GET', {}) as RequestPolicy & { use: true };

function store(headers: IncomingHttpHeaders, request: IncomingHttpHeaders = {}, status = 200) {
  return storeDecision(
    {
      status,
      request: requestPolicy('GET', request) as RequestPolicy & { use: true },
      responseHeaders: { date: DATE, ...headers },
      requestTime: NOW,
      responseTime: NOW,
    },
    options,
  );
}

describe('http cache policy', () => {
  test('parseCacheControl: case, spaces, quoted values, first occurrence wins', () => {
    const cc = parseCacheControl(['Max-Age=60 , no-cache="set-cookie, x"', 'max-age=5, PUBLIC']);
    assert.equal(cc.get('max-age'), '60');
    assert.equal(cc.get('no-cache'), 'set-cookie, x');
    assert.equal(cc.get('public'), true);
  });

  test('parseCacheControl: a member that is no directive keeps only its restricting words', () => {
    const cases: [string, [string, string | true][]][] = [
      ['private max-age=60', [['private', true]]],
      ['max-age=60;private', [['private', true]]],
      ['max-age=60 private', [['private', true]]],
      ['public max-age=60', []],
      [
        'max-age=60, "private"',
        [
          ['max-age', '60'],
          ['private', true],
        ],
      ],
      [
        'max-age=60, no-store;x',
        [
          ['max-age', '60'],
          ['no-store', true],
        ],
      ],
      [
        's-maxage=60 no-cache must-revalidate',
        [
          ['no-cache', true],
          ['must-revalidate', true],
        ],
      ],
      [
        'max-age=60, foo="open, private',
        [
          ['max-age', '60'],
          ['private', true],
        ],
      ],
      [
        'max-age = 60 ,,public',
        [
          ['max-age', '60'],
          ['public', true],
        ],
      ],
      [
        'no-cache="x, private", max-age=60',
        [
          ['no-cache', 'x, private'],
          ['max-age', '60'],
        ],
      ],
    ];
    for (const [header, want] of cases)
      assert.deepEqual([...parseCacheControl(header)], want, `Cache-Control: ${header}`);
  });

  test('requestPolicy: which requests use the cache', () => {
    const cases: [string, IncomingHttpHeaders, string][] = [
      ['GET', {}, 'use'],
      ['HEAD', {}, 'use'],
      ['POST', {}, 'Method'],
      ['DELETE', {}, 'Method'],
      ['GET', { range: 'bytes=0-1' }, 'use'],
      ['GET', { range: 'bytes=0-1', 'if-range': '"a"' }, 'use'],
      ['HEAD', { range: 'bytes=0-1' }, 'use'],
      ['GET', { 'if-match': '"a"' }, 'Precondition'],
      ['GET', { 'if-unmodified-since': DATE }, 'Precondition'],
      ['GET', { upgrade: 'websocket' }, 'Upgrade'],
    ];
    for (const [method, headers, want] of cases) {
      const policy = requestPolicy(method, headers);
      assert.equal(policy.use ? 'use' : policy.reason, want, `${method} ${JSON.stringify(headers)}`);
    }
    assert.equal(requestPolicy('GET', {}, true).use, false, 'a GET with a body is passed through');
    assert.equal(requestHasBody(['Content-Length', '5']), true);
    assert.equal(requestHasBody(['Transfer-Encoding', 'chunked']), true);
    assert.equal(requestHasBody(['content-length', ' 0 ', 'Host', 'a']), false);
    const noCache = requestPolicy('GET', { pragma: 'no-cache' });
    assert.ok(noCache.use && noCache.noCache, 'noCache.use && noCache.noCache');
    const ccWins = requestPolicy('GET', { pragma: 'no-cache', 'cache-control': 'max-age=5' });
    assert.ok(
      ccWins.use && !ccWins.noCache && ccWins.maxAge === 5000,
      'ccWins.use && !ccWins.noCache && ccWins.maxAge === 5000',
    );
  });

  test('storeDecision: reasons for not storing', () => {
    const cases: [IncomingHttpHeaders, IncomingHttpHeaders, number, string][] = [
      [{ 'cache-control': 'max-age=60' }, {}, 200, 'store'],
      [{ 'cache-control': 'max-age=60' }, { 'cache-control': 'no-store' }, 200, 'RequestNoStore'],
      [{ 'cache-control': 'no-store, max-age=60' }, {}, 200, 'NoStore'],
      [{ 'cache-control': 'private, max-age=60' }, {}, 200, 'Private'],
      [{ 'cache-control': 'max-age=60', 'set-cookie': ['a=b'] }, {}, 200, 'SetCookie'],
      [{ 'cache-control': 'max-age=60', vary: 'Accept, *' }, {}, 200, 'VaryStar'],
      [{ 'cache-control': 'max-age=60' }, { authorization: 'Bearer x' }, 200, 'Authorization'],
      [{ 'cache-control': 'public, max-age=60' }, { authorization: 'Bearer x' }, 200, 'store'],
      [{ 'cache-control': 's-maxage=60' }, { authorization: 'Bearer x' }, 200, 'store'],
      [{ 'cache-control': 'max-age=60, must-revalidate' }, { authorization: 'Bearer x' }, 200, 'store'],
      [{}, {}, 200, 'NoFreshness'],
      [{ 'cache-control': 'no-cache' }, {}, 200, 'NoFreshness'],
      [{ 'cache-control': 'no-cache', etag: '"a"' }, {}, 200, 'store'],
      [{ 'cache-control': 'max-age=60', 'content-length': '1001' }, {}, 200, 'TooLarge'],
      [{ 'cache-control': 'max-age=60' }, {}, 500, 'Status'],
      [{ 'cache-control': 'max-age=60' }, {}, 206, 'Status'],
      [{ 'cache-control': 'max-age=60' }, {}, 501, 'store'],
      [{ 'cache-control': 'max-age=60' }, {}, 404, 'store'],
    ];
    for (const [headers, request, status, want] of cases) {
      const decision = store(headers, request, status);
      assert.equal(
        decision.store ? 'store' : decision.reason,
        want,
        `${status} ${JSON.stringify(headers)} ${JSON.stringify(request)}`,
      );
    }
  });

  test('storeDecision: freshness lifetime source and value', () => {
    const cases: [IncomingHttpHeaders, string, number][] = [
      [{ 'cache-control': 'max-age=60, s-maxage=10' }, 's-maxage', 10_000],
      [{ 'cache-control': 'max-age=60' }, 'max-age', 60_000],
      [{ 'cache-control': 'max-age=abc' }, 'max-age', 0],
      [{ 'cache-control': 'max-age=60', expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }, 'max-age', 60_000],
      [{ expires: new Date(NOW + 30_000).toUTCString() }, 'expires', 30_000],
      [{ expires: '0' }, 'expires', 0],
      // Not HTTP dates, so already expired (RFC 9111 5.3); Date.parse read them as years ahead.
      [{ expires: '2030' }, 'expires', 0],
      [{ expires: '2030-01-01' }, 'expires', 0],
      [{ expires: '12345' }, 'expires', 0],
      [{ expires: 'Thu, 31 Feb 2030 00:00:00 GMT' }, 'expires', 0],
    ];
    for (const [headers, source, ms] of cases) {
      const decision = store(headers);
      assert.ok(decision.store, JSON.stringify(headers));
      assert.equal(decision.source, source);
      assert.equal(decision.freshFor, ms);
    }
    const withDefault = storeDecision(
      { status: 200, request: plainGet, responseHeaders: {}, requestTime: NOW, responseTime: NOW },
      { ...options, defaultTtl: 5000 },
    );
    assert.ok(
      withDefault.store && withDefault.source === 'default' && withDefault.freshFor === 5000,
      "withDefault.store && withDefault.source === 'default' && withDefault.freshFor === 5000",
    );
  });

  test('storeDecision: s-maxage and must-revalidate forbid stale serving', () => {
    for (const cc of [
      's-maxage=1, stale-while-revalidate=9',
      'max-age=1, must-revalidate, stale-if-error=9',
      'max-age=1, proxy-revalidate, stale-if-error=9',
    ]) {
      const decision = store({ 'cache-control': cc });
      assert.ok(
        decision.store &&
          decision.mustRevalidate &&
          decision.staleIfError === 0 &&
          decision.staleWhileRevalidate === 0,
        cc,
      );
    }
  });

  test('age: apparent age from Date and the Age header both count', () => {
    const decision = storeDecision(
      {
        status: 200,
        request: plainGet,
        responseHeaders: {
          'cache-control': 'max-age=60',
          date: new Date(NOW - 3000).toUTCString(),
          age: '10',
        },
        requestTime: NOW - 1000,
        responseTime: NOW,
      },
      options,
    );
    assert.ok(decision.store, 'decision.store');
    // corrected_age_value = 10 s + 1 s response delay beats the 3 s apparent age.
    assert.equal(decision.initialAge, 11_000);
  });

  test('an Age too large for a number counts as 2^31 s: stale, also after a JSON round trip (Redis)', () => {
    const decision = store({ 'cache-control': 'max-age=60', age: '9'.repeat(400) });
    assert.ok(decision.store, 'decision.store');
    assert.equal(decision.initialAge, 2 ** 31 * 1000);
    // Infinity became null in the Redis store's JSON, and null + elapsed made the response fresh.
    const stored = JSON.parse(JSON.stringify({ ...decision, responseTime: NOW }));
    assert.equal(serveDecision(stored, plainGet, NOW + 1000).action, 'revalidate');
  });

  test('serveDecision: boundaries of fresh, stale-while-revalidate and revalidate', () => {
    const lifetime: Lifetime = {
      freshFor: 10_000,
      source: 'max-age',
      initialAge: 0,
      staleWhileRevalidate: 5000,
      staleIfError: 20_000,
      noCache: false,
      mustRevalidate: false,
    };
    const stored = { ...lifetime, responseTime: NOW };
    const at = (ms: number, request = plainGet) => serveDecision(stored, request, NOW + ms).action;
    assert.equal(at(9999), 'fresh');
    assert.equal(at(10_000), 'stale');
    assert.equal(at(14_999), 'stale');
    assert.equal(at(15_000), 'revalidate');
    const withCc = (cc: string) => requestPolicy('GET', { 'cache-control': cc }) as typeof plainGet;
    assert.equal(at(4000, withCc('min-fresh=6')), 'fresh');
    assert.equal(at(4001, withCc('min-fresh=6')), 'revalidate');
    assert.equal(at(19_999, withCc('max-stale=10')), 'stale');
    assert.equal(at(20_000, withCc('max-stale=10')), 'revalidate');
    assert.equal(at(10 ** 9, withCc('max-stale')), 'stale');
    assert.equal(withCc('max-stale').maxStale, Number.POSITIVE_INFINITY);
    assert.equal(withCc('only-if-cached').onlyIfCached, true);
    assert.equal(plainGet.onlyIfCached, false);
    assert.deepEqual(serveDecision(stored, withCc('max-stale=10'), NOW + 16_000), {
      action: 'stale',
      age: 16_000,
      allowedBy: 'max-stale',
    });
    assert.equal(
      serveDecision({ ...stored, mustRevalidate: true }, withCc('max-stale'), NOW + 11_000).action,
      'revalidate',
    );
    assert.equal(
      at(0, requestPolicy('GET', { 'cache-control': 'no-cache' }) as typeof plainGet),
      'revalidate',
    );
    assert.equal(
      at(3000, requestPolicy('GET', { 'cache-control': 'max-age=2' }) as typeof plainGet),
      'revalidate',
    );
    assert.equal(
      at(2000, requestPolicy('GET', { 'cache-control': 'max-age=2' }) as typeof plainGet),
      'fresh',
    );
    assert.equal(
      serveDecision({ ...stored, mustRevalidate: true }, plainGet, NOW + 10_000).action,
      'revalidate',
    );
    assert.equal(serveDecision({ ...stored, noCache: true }, plainGet, NOW).action, 'revalidate');
    assert.equal(staleIfErrorAllows(stored, NOW + 29_999), true);
    assert.equal(staleIfErrorAllows(stored, NOW + 30_000), false);
    assert.equal(staleIfErrorAllows({ ...stored, mustRevalidate: true }, NOW + 11_000), false);
    assert.equal(staleIfErrorAllows({ ...stored, noCache: true }, NOW), false, 'no-cache: never stale');
    assert.equal(retentionMs(lifetime, false, 60_000), 70_000, 'kept for a max-stale request');
    assert.equal(retentionMs({ ...lifetime, mustRevalidate: true }, false, 60_000), 30_000);
    assert.equal(retentionMs(lifetime, true, 60_000), 70_000);
  });

  test('httpDate: the three HTTP date forms, nothing else', () => {
    const sunday = Date.UTC(1994, 10, 6, 8, 49, 37);
    assert.equal(httpDate('Sun, 06 Nov 1994 08:49:37 GMT'), sunday);
    assert.equal(httpDate('Sunday, 06-Nov-94 08:49:37 GMT'), sunday);
    assert.equal(httpDate('Sun Nov  6 08:49:37 1994'), sunday);
    assert.equal(httpDate('Thu, 01 Jan 2030 00:00:00 GMT'), Date.UTC(2030, 0, 1));
    assert.equal(httpDate('Tuesday, 01-Jan-30 00:00:00 GMT'), Date.UTC(2030, 0, 1));
    for (const bad of ['0', '-1', '2030', '2030-01-01', '2030-01-01T00:00:00Z', '12345', 'tomorrow', '']) {
      assert.equal(httpDate(bad), undefined, bad);
    }
    assert.equal(httpDate('Thu, 31 Feb 2030 00:00:00 GMT'), undefined);
    assert.equal(httpDate('Thu, 01 Jan 2030 24:00:00 GMT'), undefined);
  });

  test('notModified: If-None-Match by weak comparison, If-Modified-Since only without it', () => {
    const stored = { etag: 'W/"v1"', lastModified: 'Mon, 02 Nov 2026 10:00:00 GMT' };
    assert.equal(notModified({ 'if-none-match': '"v1"' }, stored), true);
    assert.equal(notModified({ 'if-none-match': '"v0", W/"v1"' }, stored), true);
    assert.equal(notModified({ 'if-none-match': '*' }, stored), true);
    assert.equal(notModified({ 'if-none-match': '"v2"' }, stored), false);
    assert.equal(notModified({ 'if-modified-since': 'Mon, 02 Nov 2026 10:00:00 GMT' }, stored), true);
    assert.equal(notModified({ 'if-modified-since': 'Mon, 02 Nov 2026 09:59:59 GMT' }, stored), false);
    // Not an HTTP date: ignored (RFC 9110 13.1.3), not a 304 for every year before it.
    assert.equal(notModified({ 'if-modified-since': '2099' }, stored), false);
    assert.equal(
      notModified({ 'if-none-match': '"v2"', 'if-modified-since': 'Mon, 02 Nov 2026 10:00:00 GMT' }, stored),
      false,
    );
  });

  test('mergeNotModified: 304 fields replace stored ones, framing fields stay', () => {
    const merged = mergeNotModified(
      ['Content-Length', '5', 'Cache-Control', 'max-age=1', 'ETag', '"a"', 'X-Keep', '1'],
      ['Cache-Control', 'max-age=30', 'Content-Length', '0', 'X-New', '2'],
    );
    assert.deepEqual(merged, [
      'Content-Length',
      '5',
      'ETag',
      '"a"',
      'X-Keep',
      '1',
      'Cache-Control',
      'max-age=30',
      'X-New',
      '2',
    ]);
  });

  test('Vary names and variant keys', () => {
    assert.deepEqual(varyNames('Accept-Encoding, accept-language,Accept-Encoding'), [
      'accept-encoding',
      'accept-language',
    ]);
    assert.equal(varyNames('*'), '*');
    assert.deepEqual(varyNames(undefined), []);
    assert.deepEqual(varyNames('Accept-Encoding Cookie,\tX-A'), ['accept-encoding', 'cookie', 'x-a']);
    assert.equal(varyNames('Cookie;Accept'), '*');
    assert.equal(varyNames('"Cookie"'), '*');
    const client = ['Host', 'a', 'Accept-Language', 'fr', 'Cookie', 'u=1'];
    assert.equal(
      varySeen(['accept-language', 'cookie'], client, ['Cookie', 'u=1', 'accept-language', 'fr']),
      true,
    );
    assert.equal(varySeen(['accept-language'], client, ['Host', 'a']), false);
    assert.equal(varySeen(['x-forwarded-for'], client, ['X-Forwarded-For', '127.0.0.1']), false);
    assert.equal(varySeen(['x-missing'], client, []), true);
    const sent = ['X-Forwarded-Host', 'a', 'X-Forwarded-Proto', 'http'];
    assert.equal(varySeen(['x-forwarded-host', 'x-forwarded-proto'], client, sent), true, 'keyed');
    const names = ['accept-language'];
    assert.equal(
      variantKey(names, { 'accept-language': 'en,  fr' }),
      variantKey(names, { 'accept-language': 'en , fr' }),
    );
    assert.notEqual(variantKey(names, { 'accept-language': 'en' }), variantKey(names, {}));
  });

  test('purge targets and tags', () => {
    assert.deepEqual(purgeTarget('https://WWW.Example.com:8443/a?b=1'), {
      host: 'www.example.com',
      port: '8443',
      path: '/a?b=1',
    });
    assert.deepEqual(purgeTarget('https://shop.example:443/a'), { host: 'shop.example', path: '/a' });
    assert.deepEqual(purgeTarget('//[::1]:8080/a'), { host: '[::1]', port: '8080', path: '/a' });
    // key host, purge URL, matches: no port in the URL is every port; a port is that one + portless.
    const hostCases: [string, string, boolean][] = [
      ['shop.example', 'https://shop.example/', true],
      ['shop.example:8443', 'https://shop.example/', true],
      ['shop.example:8443', 'https://shop.example:8443/', true],
      ['shop.example', 'https://shop.example:8443/', true],
      ['shop.example:9000', 'https://shop.example:8443/', false],
      ['shop.example.evil:8443', 'https://shop.example/', false],
      ['[::1]:8443', 'http://[::1]/', true],
      ['[::1]:9000', 'http://[::1]:8443/', false],
      ['anything:1', '/', true],
    ];
    for (const [keyHost, url, expected] of hostCases)
      assert.equal(matchesHost(keyHost, purgeTarget(url)!), expected, `${keyHost} by ${url}`);
    assert.deepEqual(purgeTarget('/a'), { host: undefined, path: '/a' });
    assert.equal(purgeTarget('ftp://x/a'), undefined);
    assert.equal(purgeTarget('not a url'), undefined);
    assert.deepEqual(tagsOf({ 'cache-tag': 'a, b,a' }, 'Cache-Tag'), ['a', 'b']);
    assert.deepEqual(tagsOf({ 'surrogate-key': 'x y' }, 'Surrogate-Key'), ['x', 'y']);
  });

  test('rangeDecision: one bytes range of a 200 of known length, else the whole response', () => {
    const whole = { status: 200, headers: { etag: '"v1"' }, size: 20 };
    const cases: [
      string | undefined,
      string,
      Partial<typeof whole> & { size?: number | undefined },
      string,
    ][] = [
      [undefined, 'GET', {}, 'whole NoRange'],
      ['bytes=0-3', 'GET', {}, 'partial 0-3/20'],
      ['bytes=2-5', 'GET', {}, 'partial 2-5/20'],
      ['bytes=15-', 'GET', {}, 'partial 15-19/20'],
      ['bytes=-3', 'GET', {}, 'partial 17-19/20'],
      ['bytes=5-100', 'GET', {}, 'partial 5-19/20'],
      ['bytes=19-19', 'GET', {}, 'partial 19-19/20'],
      ['BYTES = 0-0', 'GET', {}, 'partial 0-0/20'],
      ['bytes=20-', 'GET', {}, 'unsatisfiable */20'],
      ['bytes=20-30', 'GET', {}, 'unsatisfiable */20'],
      ['bytes=-0', 'GET', {}, 'unsatisfiable */20'],
      ['bytes=5-2', 'GET', {}, 'unsatisfiable */20'],
      ['bytes=0-', 'GET', { size: 0 }, 'unsatisfiable */0'],
      ['bytes=-21', 'GET', {}, 'whole SuffixCoversAll'],
      ['bytes=-5', 'GET', { size: 0 }, 'whole SuffixCoversAll'],
      ['bytes=0-1,5-6', 'GET', {}, 'whole MultipleRanges'],
      ['bytes=0-1,50-60', 'GET', {}, 'whole MultipleRanges'],
      ['items=0-1', 'GET', {}, 'whole Unit'],
      ['items=50-', 'GET', {}, 'whole Unit'],
      ['bytes=a-b', 'GET', {}, 'whole Invalid'],
      ['bytes', 'GET', {}, 'whole Invalid'],
      ['bytes=0-3', 'HEAD', {}, 'whole Method'],
      ['bytes=0-3', 'POST', {}, 'whole Method'],
      ['bytes=0-3', 'GET', { status: 404 }, 'whole Status'],
      ['bytes=0-3', 'GET', { status: 206 }, 'whole Status'],
      ['bytes=0-3', 'GET', { size: undefined }, 'whole UnknownLength'],
    ];
    for (const [range, method, response, want] of cases) {
      const decision = rangeDecision(method, range === undefined ? {} : { range }, { ...whole, ...response });
      const got =
        decision.action === 'whole'
          ? `whole ${decision.reason}`
          : decision.action === 'partial'
            ? `partial ${decision.start}-${decision.end}/${decision.size}`
            : `unsatisfiable */${decision.size}`;
      assert.equal(got, want, `${method} ${range} ${JSON.stringify(response)}`);
    }
    const ifRange = rangeDecision('GET', { range: 'bytes=0-3', 'if-range': '"v0"' }, whole);
    assert.deepEqual(ifRange, { action: 'whole', reason: 'IfRange' });
  });

  test('ifRangeHolds: strong ETag match, or exactly the Last-Modified when a second older than Date', () => {
    const LM = new Date(NOW - 3600_000).toUTCString();
    const response = { etag: '"v1"', 'last-modified': LM, date: DATE };
    const cases: [string, IncomingHttpHeaders, boolean][] = [
      ['"v1"', response, true],
      [' "v1" ', response, true],
      ['"v2"', response, false],
      ['W/"v1"', response, false],
      ['"v1"', { ...response, etag: 'W/"v1"' }, false],
      ['"v1"', { date: DATE }, false],
      [LM, response, true],
      [new Date(NOW - 3599_000).toUTCString(), response, false],
      [LM, { ...response, date: undefined }, false],
      // Modified within the second of its Date: a weak validator, never matches (RFC 9110 8.8.2.2).
      [DATE, { ...response, 'last-modified': DATE }, false],
      ['not a date', response, false],
    ];
    for (const [value, headers, want] of cases)
      assert.equal(ifRangeHolds(value, headers), want, `${value} ${JSON.stringify(headers)}`);
  });

  /** shown writes purge targets as `host[:port]path`, `*` for any host. */
  const shown = (targets: readonly PurgeTarget[]): string[] =>
    targets.map((t) => `${t.host ?? '*'}${t.port === undefined ? '' : `:${t.port}`}${t.path}`);

  test('notModifiedSelects: a 304 updates the stored response only when its validator is the stored one', () => {
    const LM = 'Sat, 28 Nov 2026 11:00:00 GMT';
    const OTHER_LM = 'Sat, 28 Nov 2026 11:30:00 GMT';
    const cases: [Validators, IncomingHttpHeaders, boolean][] = [
      [{ etag: '"v1"', lastModified: undefined }, { etag: '"v1"' }, true],
      [{ etag: '"v1"', lastModified: undefined }, { etag: '"v2"' }, false],
      [{ etag: 'W/"v1"', lastModified: undefined }, { etag: '"v1"' }, false],
      [{ etag: undefined, lastModified: LM }, { etag: '"v1"' }, false],
      [{ etag: '"v1"', lastModified: undefined }, { etag: 'W/"v1"' }, true],
      [{ etag: 'W/"v1"', lastModified: undefined }, { etag: 'W/"v2"' }, false],
      [{ etag: undefined, lastModified: undefined }, { etag: 'W/"v1"' }, false],
      [{ etag: '"v1"', lastModified: LM }, { 'last-modified': LM }, true],
      [{ etag: '"v1"', lastModified: LM }, { 'last-modified': OTHER_LM }, false],
      [{ etag: '"v1"', lastModified: undefined }, { 'last-modified': LM }, true],
      [{ etag: '"v1"', lastModified: LM }, {}, true],
      [{ etag: undefined, lastModified: undefined }, {}, true],
    ];
    for (const [stored, response, want] of cases)
      assert.equal(
        notModifiedSelects(stored, response),
        want,
        `${JSON.stringify(stored)} ${JSON.stringify(response)}`,
      );
  });

  test('invalidatedTargets: the target, and Location/Content-Location on the same host', () => {
    const cases: [number, string, string[], string[]][] = [
      [204, '/doc', [], ['shop.example/doc']],
      [201, '/dir/p', ['/x'], ['shop.example/dir/p', 'shop.example/x']],
      [201, '/dir/p', ['y?q=1'], ['shop.example/dir/p', 'shop.example/dir/y?q=1']],
      [201, '/dir/p', ['../z'], ['shop.example/dir/p', 'shop.example/z']],
      [201, '/dir/p', ['http://shop.example:8080/x'], ['shop.example/dir/p', 'shop.example:8080/x']],
      [201, '/dir/p', ['https://SHOP.example/x'], ['shop.example/dir/p', 'shop.example/x']],
      [201, '/dir/p', ['//shop.example/x'], ['shop.example/dir/p', 'shop.example/x']],
      [201, '/dir/p', ['http://other.example/x'], ['shop.example/dir/p']],
      [201, '/dir/p', ['//other.example/x'], ['shop.example/dir/p']],
      [201, '/dir/p', ['mailto:a@shop.example'], ['shop.example/dir/p']],
      [201, '/dir/p', ['http://[bad'], ['shop.example/dir/p']],
      [201, '/dir/p', ['/dir/p', '/x', '/x'], ['shop.example/dir/p', 'shop.example/x']],
      [303, '/dir/p', ['/x'], ['shop.example/dir/p', 'shop.example/x']],
      // As written, as keys hold what clients send (URL would make them %7B, %27…).
      [201, '/dir/p', ['/items/{id}'], ['shop.example/dir/p', 'shop.example/items/{id}']],
      [201, '/dir/p', ["q?name='x'"], ['shop.example/dir/p', "shop.example/dir/q?name='x'"]],
      [201, '/dir/p', ["http://shop.example/a'b/{c}"], ['shop.example/dir/p', "shop.example/a'b/{c}"]],
      [201, '/dir/p?old=1', ['?v={2}#frag'], ['shop.example/dir/p?old=1', 'shop.example/dir/p?v={2}']],
      [201, '/dir/p', ['./{a}/../b"c'], ['shop.example/dir/p', 'shop.example/dir/b"c']],
      [201, '/dir/p', ['#top'], ['shop.example/dir/p']],
      [409, '/dir/p', ['/x'], []],
      [500, '/dir/p', ['/x'], []],
    ];
    for (const [status, target, locations, want] of cases)
      assert.deepEqual(
        shown(invalidatedTargets(status, 'shop.example', target, locations)),
        want,
        `${status} ${target} ${locations}`,
      );
    assert.deepEqual(shown(invalidatedTargets(201, '', '/dir/p', ['/x'])), ['/dir/p']);
  });

  test('invalidatedTargets: a request keyed with a port matches its locations as a purge would', () => {
    // The key host keeps a port that is neither the balancer's nor the default (`shop:6666`).
    const cases: [string, string[], string[]][] = [
      ['shop:6666', ['/x'], ['shop:6666/p', 'shop:6666/x']],
      ['shop:6666', ['http://shop:6666/x'], ['shop:6666/p', 'shop:6666/x']],
      ['shop:6666', ['http://SHOP:6666/x'], ['shop:6666/p', 'shop:6666/x']],
      ['shop:6666', ['http://shop/x'], ['shop:6666/p', 'shop/x']],
      ['shop:6666', ['//shop:6666/y'], ['shop:6666/p', 'shop:6666/y']],
      ['shop:6666', ['http://shop:7777/x'], ['shop:6666/p']],
      ['shop:6666', ['http://other:6666/x'], ['shop:6666/p']],
      ['[::1]:6666', ['/x', 'http://[::1]:6666/y'], ['[::1]:6666/p', '[::1]:6666/x', '[::1]:6666/y']],
    ];
    for (const [keyHost, locations, want] of cases)
      assert.deepEqual(
        shown(invalidatedTargets(201, keyHost, '/p', locations)),
        want,
        `${keyHost} ${locations}`,
      );
  });

  test('hitForMissMs: only reasons that belong to the URL start hit-for-miss', () => {
    const cases: [NotStoredReason, number][] = [
      ['NoStore', 120_000],
      ['Private', 120_000],
      ['SetCookie', 120_000],
      ['VaryStar', 120_000],
      ['NoFreshness', 120_000],
      ['TooLarge', 120_000],
      ['Status', 0],
      ['RequestNoStore', 0],
      ['Authorization', 0],
    ];
    for (const [reason, want] of cases) assert.equal(hitForMissMs(reason, 120_000), want, reason);
  });

  test("supersedesStored: only reasons that are the resource's remove the revalidated copy", () => {
    const cases: [NotStoredReason, boolean][] = [
      ['NoStore', true],
      ['Private', true],
      ['SetCookie', true],
      ['VaryStar', true],
      ['NoFreshness', true],
      ['TooLarge', true],
      ['Status', false],
      ['RequestNoStore', false],
      ['Authorization', false],
      ['VaryUnseen', false],
    ];
    for (const [reason, want] of cases) assert.equal(supersedesStored(reason), want, reason);
  });

  test('HitForMiss: marks expire, clear ends them, and the oldest goes past the bound', () => {
    const marks = new HitForMiss(2);
    marks.mark('a', 1000, 500);
    assert.equal(marks.active('a', 1499), true);
    assert.equal(marks.active('a', 1500), false, 'expired at now + ms');
    marks.mark('a', 0, 0);
    assert.equal(marks.active('a', 0), false, 'a zero TTL marks nothing');
    marks.mark('a', 0, 100);
    marks.clear('a');
    assert.equal(marks.active('a', 0), false);
    marks.mark('a', 0, 100);
    marks.mark('b', 0, 100);
    marks.mark('a', 0, 100); // re-marked: now the newest
    marks.mark('c', 0, 100);
    assert.deepEqual(
      ['a', 'b', 'c'].map((k) => marks.active(k, 0)),
      [true, false, true],
    );
    assert.equal(marks.size, 2);
  });
});
