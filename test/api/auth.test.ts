import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthConfigError, createAuthenticator, parseTokenFile, RateLimiter } from '../../src/api/index.js';
import { startApi } from '../helpers/api-harness.js';

const READ = 'read-token-0123456789';
const ADMIN = 'admin-token-0123456789';

describe('parseTokenFile', () => {
  it('reads NAME ROLE TOKEN lines, skipping comments and blanks', () => {
    assert.deepEqual(parseTokenFile(`# ops tokens\n\ngrafana read ${READ}\nci admin ${ADMIN}  # deploys\n`), [
      { name: 'grafana', role: 'read', token: READ },
      { name: 'ci', role: 'admin', token: ADMIN },
    ]);
  });
  // `#` inside a token cut it there: `0123456789abcdef#rest` was stored as its 16-character prefix,
  // so the token as written got 401 and the shorter prefix was an admin token.
  it('keeps a # inside a token; a comment starts at the line start or after whitespace', () => {
    const written = '0123456789abcdef#rest-of-it';
    const tokens = parseTokenFile(
      `ops admin ${written}\n# ci admin ${ADMIN}\nci read ${READ}\t# a comment\n`,
    );
    assert.deepEqual(tokens, [
      { name: 'ops', role: 'admin', token: written },
      { name: 'ci', role: 'read', token: READ },
    ]);
    const authenticate = createAuthenticator(tokens);
    assert.equal(authenticate(`Bearer ${written}`)?.name, 'ops');
    assert.equal(authenticate('Bearer 0123456789abcdef'), undefined);
  });
  const bad: [string, RegExp][] = [
    [`grafana read`, /line 1.*NAME ROLE TOKEN/],
    [`\ngrafana owner ${READ}`, /line 2.*role/],
    [`grafana read short`, /line 1.*at least 16/],
    [`a read ${READ}\na admin ${ADMIN}`, /line 2.*duplicate token name "a" \(also on line 1\)/],
    [`ops admin ${ADMIN}\n# ci\nci read ${ADMIN}`, /line 3.*duplicate token \(the token of line 1\)/],
    [`ops admin ${ADMIN}\nci admin ${ADMIN}`, /line 2.*duplicate token \(the token of line 1\)/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseTokenFile(text),
        (err: unknown) =>
          err instanceof AuthConfigError &&
          message.test(err.message) &&
          !err.message.includes(READ) &&
          !err.message.includes(ADMIN),
      );
    });
  }
});

describe('createAuthenticator', () => {
  const authenticate = createAuthenticator([
    { name: 'grafana', role: 'read', token: READ },
    { name: 'ci', role: 'admin', token: ADMIN },
  ]);
  const cases: [string | undefined, string | undefined][] = [
    [`Bearer ${READ}`, 'grafana'],
    [`bearer ${ADMIN}`, 'ci'],
    [`Bearer ${ADMIN} `, 'ci'],
    [undefined, undefined],
    ['', undefined],
    [`Basic ${ADMIN}`, undefined],
    [`Bearer ${ADMIN.slice(0, -1)}`, undefined],
    [`Bearer ${ADMIN}x`, undefined],
    [`Bearer ${READ} ${ADMIN}`, undefined],
    ['Bearer ', undefined],
  ];
  for (const [header, name] of cases) {
    it(`${JSON.stringify(header)} → ${name ?? 'refused'}`, () => {
      assert.equal(authenticate(header)?.name, name);
    });
  }
});

describe('RateLimiter', () => {
  it('allows perMinute, then refuses with the wait, and refills over time', () => {
    const limiter = new RateLimiter({ perMinute: 3 });
    assert.deepEqual(
      [0, 0, 0, 0].map(() => limiter.take('a', 0)),
      [0, 0, 0, 20],
    );
    assert.equal(limiter.take('b', 0), 0, 'keys are independent');
    assert.equal(limiter.blocked('a', 19_999), 1);
    assert.equal(limiter.take('a', 20_000), 0, 'one token back after 20 s');
    assert.equal(limiter.take('a', 20_000) > 0, true);
  });

  it('forgets keys whose bucket is full again and bounds the keys it keeps', () => {
    const limiter = new RateLimiter({ perMinute: 2, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`, 0);
    assert.equal(limiter.size, 100);
    limiter.take('x', 0);
    limiter.take('x', 60_000);
    assert.ok(limiter.size <= 100, 'limiter.size <= 100');
  });
});

describe('roles and rate limits on the live API', () => {
  async function start(limits: { authFailuresPerMinute?: number; scaleRequestsPerMinute?: number } = {}) {
    const api = await startApi({
      server: {
        tokens: [
          { name: 'grafana', role: 'read', token: READ },
          { name: 'ci', role: 'admin', token: ADMIN },
        ],
        ...limits,
      },
    });
    const call = (path: string, token: string, body?: unknown) =>
      fetch(`${api.base}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}` },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    return { provider: api.provider, journal: api.journal, call, close: api.close };
  }

  it('a read token reads but cannot scale (403); an admin token can, and the journal names it', async (t) => {
    const api = await start();
    t.after(api.close);
    assert.equal((await api.call('/api/scalability/groups/web', READ)).status, 200);
    const refused = await api.call('/api/scalability/scale-group', READ, {
      group: 'web',
      action: 'scale-out',
    });
    assert.equal(refused.status, 403);
    assert.equal(api.provider.desired(), 1);
    const done = await api.call('/api/scalability/scale-group', ADMIN, { group: 'web', action: 'scale-out' });
    assert.equal(done.status, 200);
    assert.equal(api.provider.desired(), 2);
    const entry = api.journal.last('web')!;
    assert.equal(entry.inputs.by, 'ci');
    assert.ok(!JSON.stringify(api.journal.entries()).includes(ADMIN), 'the journal never holds a token');
  });

  it('refuses a client after too many failed authentications, even with a good token', async (t) => {
    const api = await start({ authFailuresPerMinute: 3 });
    t.after(api.close);
    const statuses = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await api.call('/api/scalability/groups', `guess-${i}`)).status);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    const blocked = await api.call('/api/scalability/groups', ADMIN);
    assert.equal(blocked.status, 429);
    assert.ok(
      Number(blocked.headers.get('retry-after')) > 0,
      "Number(blocked.headers.get('retry-after')) > 0",
    );
  });

  it('rate-limits scaling calls per token, changing nothing once limited', async (t) => {
    const api = await start({ scaleRequestsPerMinute: 2 });
    t.after(api.close);
    const body = { group: 'web', action: 'scale-out' };
    assert.equal((await api.call('/api/scalability/scale-group', ADMIN, body)).status, 200);
    assert.equal((await api.call('/api/scalability/scale-group', ADMIN, body)).status, 200);
    assert.equal((await api.call('/api/scalability/scale-group', ADMIN, body)).status, 429);
    assert.equal(api.provider.desired(), 3);
  });
});
