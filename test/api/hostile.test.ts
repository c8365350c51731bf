// Hostile input on the control API (acceptance 3 of issue 10), property-based with fast-check:
// random bodies, values, paths, methods and headers. Every input gets a 4xx (or a closed
// connection) and a log line, never a 5xx; a rejected request changes nothing (desired count and
// journal length). FUZZ_RUNS sets the runs per property (default 200; the long run used 20000).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_BODY_BYTES } from '../../src/api/index.js';
import { type ApiHarness, READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { sendRaw } from '../helpers/raw-http.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
/** FUZZ_TALLY: the long run prints how many inputs each property saw, by status. */
const tally = new Map<string, Map<string, number>>();
function count(property: string, outcome: string): void {
  const byOutcome = tally.get(property) ?? new Map<string, number>();
  byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  tally.set(property, byOutcome);
}

/** Odd strings: traversal, encodings, unicode (RTL, zero-width, surrogates, NUL), huge. */
const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    'web',
    'WEB',
    ' web',
    'web\u0000',
    '../web',
    '..%2fweb',
    '../../etc/passwd',
    '%2e%2e%2f',
    'web/../web',
    '\u202eweb',
    'w\u200beb',
    '\ud800',
    'ｗｅｂ',
    '',
    'web'.repeat(30),
  ),
);

/** Counts as the API should never accept them, and a few it should. */
const oddCount = fc.oneof(
  fc.integer({ min: -1_000, max: 20 }),
  fc.double(),
  fc.constantFrom(0, 1, 2, -1, 0.5, 1e308, -1e308, 2 ** 53, 10_001, Number.MAX_SAFE_INTEGER),
  fc.constantFrom('1', '2', '', 'NaN', '1e3', null, true, [], {}),
);

const scaleBody = fc.oneof(
  // Mostly valid, so that acceptance is exercised too.
  fc.record(
    {
      group: fc.constant('web'),
      action: fc.constantFrom('scale-out', 'scale-in', 'set'),
      instances: fc.integer({ min: -1, max: 7 }),
    },
    { requiredKeys: ['group', 'action'] },
  ),
  // The right shape with odd values.
  fc.record(
    {
      group: oddString,
      action: fc.oneof(fc.constantFrom('scale-out', 'scale-in', 'set'), oddString),
      instances: oddCount,
    },
    { requiredKeys: [] },
  ),
  // Unknown fields next to valid ones.
  fc
    .record({ extra: fc.anything(), key: fc.string() })
    .map(({ extra, key }) => ({ group: 'web', action: 'set', instances: 1, [key || 'x']: extra })),
  // Anything JSON.
  fc.jsonValue(),
);

/** validScale says whether a scale body is one the API must accept for a 1..5 group at `desired`. */
function validScale(body: unknown, desired: number): boolean {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  if (Object.keys(b).some((k) => !['group', 'action', 'instances'].includes(k))) return false;
  if (b.group !== 'web') return false;
  const n = b.instances;
  if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 10_000))
    return false;
  const count = n as number | undefined;
  if (b.action === 'set') return count !== undefined && count >= 1 && count <= 5;
  if (b.action === 'scale-out') return count !== 0 && desired + (count ?? 1) <= 5;
  if (b.action === 'scale-in') return count !== 0 && desired - (count ?? 1) >= 1;
  return false;
}

describe('hostile input on the control API', () => {
  let api: ApiHarness;
  const warnings: string[] = [];
  before(async () => {
    api = await startApi({
      server: {
        // The limits would turn every later input into a 429; they have their own tests.
        authFailuresPerMinute: 1e9,
        scaleRequestsPerMinute: 1e9,
        // Each refusal must leave its line here; the log throttle has its own tests.
        refusalLogIntervalMs: 0,
        logger: { warn: (_fields: object, msg?: string) => warnings.push(msg ?? '') },
      },
    });
  });
  after(async () => {
    await api.close();
    if (process.env.FUZZ_RUNS)
      for (const [property, outcomes] of tally)
        console.log(`FUZZ api ${property}: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });

  /** state is what a rejected request must not change. */
  const state = () => ({
    desired: api.provider.desired(),
    journal: api.journal.entries({ limit: 1e6 }).length,
  });

  it('scale-group: a valid body is applied, everything else is a 4xx with a log line and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(scaleBody, async (body) => {
        const before = state();
        const logged = warnings.length;
        const res = await api.call('/api/scalability/scale-group', {
          method: 'POST',
          body: JSON.stringify(body),
        });
        count('scale-group body', String(res.status));
        assert.ok(res.status < 500, `5xx for ${JSON.stringify(body)}: ${res.text}`);
        // What the server sees: JSON drops undefined values.
        if (validScale(JSON.parse(JSON.stringify(body) ?? 'null'), before.desired)) {
          assert.equal(res.status, 200, `${JSON.stringify(body)} → ${res.text}`);
          // Back to 1 for the next input (a valid change of its own).
          api.controller.scale('web', 'set', 1);
          return;
        }
        assert.ok(res.status >= 400, `${JSON.stringify(body)} accepted: ${res.text}`);
        assert.equal(typeof res.body.error, 'string');
        assert.deepEqual(state(), before, `state changed by ${JSON.stringify(body)}`);
        assert.equal(warnings.length, logged + 1, 'one log line per refused request');
      }),
      { numRuns: RUNS },
    );
  });

  it('raw bodies: bad JSON, wrong content, oversized — 4xx, nothing changed', async () => {
    const rawBody = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom(
        '{',
        '{"group":',
        '[1,2',
        'null',
        '"web"',
        '{"group":"web","action":"set","instances":1e999}',
      ),
      fc
        .integer({ min: MAX_BODY_BYTES - 10, max: MAX_BODY_BYTES * 3 })
        .map((n) => `{"pad":"${'x'.repeat(n)}"}`),
    );
    await fc.assert(
      fc.asyncProperty(rawBody, fc.constantFrom('application/json', 'text/plain', ''), async (body, type) => {
        const before = state();
        const res = await api.call('/api/scalability/scale-group', {
          method: 'POST',
          body,
          headers: type === '' ? {} : { 'content-type': type },
        });
        count('raw body', String(res.status));
        assert.ok(
          res.status >= 400 && res.status < 500,
          `${res.status} for ${body.slice(0, 80)}: ${res.text}`,
        );
        assert.deepEqual(state(), before);
      }),
      { numRuns: RUNS },
    );
  });

  it('paths and methods: traversal, odd unicode, malformed escapes, wrong methods — never 5xx', async () => {
    const segment = fc.oneof(
      // Through UTF-8 first: encodeURIComponent throws on a lone surrogate.
      oddString.map((s) => encodeURIComponent(Buffer.from(s).toString())),
      fc.constantFrom(
        '%',
        '%E0%A4%A',
        '%ff',
        '%00',
        '..',
        '.',
        '%2e%2e',
        '%c0%af',
        '%uD800',
        'web%2F..%2Fweb',
      ),
    );
    const path = fc.oneof(
      segment.map((s) => `/api/scalability/groups/${s}`),
      fc.array(segment, { maxLength: 5 }).map((parts) => `/api/scalability/${parts.join('/')}`),
      fc.array(segment, { maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
      fc.constantFrom(
        '/api/scalability/events?since=-1',
        '/api/scalability/events?limit=1e99',
        '/api/scalability/events?group=%ff',
      ),
    );
    const method = fc.constantFrom(
      'GET',
      'HEAD',
      'POST',
      'PUT',
      'DELETE',
      'PATCH',
      'OPTIONS',
      'TRACE',
      'PROPFIND',
    );
    await fc.assert(
      fc.asyncProperty(
        path,
        method,
        fc.constantFrom(TOKEN, READ_TOKEN, 'wrong-token', null),
        async (p, m, token) => {
          const before = state();
          const answer = await sendRaw(
            api.port,
            `${m} ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
              (token === null ? '' : `Authorization: Bearer ${token}\r\n`) +
              (m === 'POST' || m === 'PUT' || m === 'PATCH' ? 'Content-Length: 2\r\n\r\n{}' : '\r\n'),
          );
          count('path × method', String(answer.status ?? 'closed'));
          assert.ok(
            answer.status === undefined || answer.status < 500,
            `${m} ${p} → ${answer.text.slice(0, 200)}`,
          );
          assert.deepEqual(state(), before);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('headers: oversized, invalid characters, duplicate authorization — 4xx or closed, logged', async () => {
    const header = fc.oneof(
      fc.integer({ min: 8_000, max: 80_000 }).map((n) => `X-Big: ${'a'.repeat(n)}`),
      fc.string({ unit: 'binary', maxLength: 60 }).map((v) => `X-Odd: ${v.replace(/\r|\n/g, '')}`),
      fc.constantFrom(
        'Bad Name: x',
        'X-Nul: a\u0000b',
        'Authorization: Bearer a\r\nAuthorization: Bearer b',
        ' folded: continuation',
        'X-A: 1\r\n x-continued',
        'Content-Length: -1',
        'Content-Length: 1, 2',
        'Transfer-Encoding: chunked\r\nContent-Length: 5',
      ),
    );
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const before = state();
        const logged = warnings.length;
        const answer = await sendRaw(
          api.port,
          // No body: even when the headers pass, the request is a 400 ("expected a JSON object").
          `POST /api/scalability/scale-group HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${h}\r\n` +
            'Connection: close\r\n\r\n',
        );
        count('headers', String(answer.status ?? 'closed'));
        assert.ok(
          answer.status === undefined || (answer.status >= 400 && answer.status < 500),
          `${h.slice(0, 80)} → ${answer.text.slice(0, 200)}`,
        );
        assert.deepEqual(state(), before);
        if (answer.status !== undefined)
          assert.ok(warnings.length > logged, `no log line for ${h.slice(0, 80)}`);
      }),
      { numRuns: RUNS },
    );
  });
});
