// Sloppy and hostile requests found by the input audit: each is a 400 naming the field, and
// changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { duplicateName } from '../../src/api/json-keys.js';
import { type ApiHarness, startApi, TOKEN } from '../helpers/api-harness.js';

describe('control API input audit', () => {
  let api: ApiHarness;
  before(async () => {
    api = await startApi();
  });
  after(async () => {
    await api.close();
  });

  // Buffer#toString('utf8') turned an invalid byte into U+FFFD: the request named a group (or a
  // URL to purge, or an instance type) that no one sent.
  it('a body that is not UTF-8 is a 400 naming the body, and changes nothing', async () => {
    const before = api.controller.status('web').desired;
    const body = Buffer.concat([
      Buffer.from('{"group":"we'),
      Buffer.from([0xff]),
      Buffer.from('b","action":"set","instances":2}'),
    ]);
    const res = await api.call('/api/scalability/scale-group', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error, 'body: not valid UTF-8', res.text);
    assert.equal(api.controller.status('web').desired, before, 'desired count unchanged');
  });

  it('a UTF-8 body with a byte-order mark is read (RFC 8259 lets a parser skip it)', async () => {
    const res = await api.call('/api/scalability/scale-group', {
      method: 'POST',
      body: `\ufeff${JSON.stringify({ group: 'web', action: 'set', instances: 2 })}`,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.desired, 2, res.text);
  });

  // `Limit=1` or `limt=1` answered the whole journal, `limit=1&limit=500` the first: a typo in a
  // script read as a different question, as an unknown key in the config would be.
  it('events: an unknown or repeated query parameter is a 400 naming it', async () => {
    const cases: [string, string][] = [
      ['Limit=1', 'Limit: unknown query parameter (did you mean "limit"?)'],
      ['limt=1', 'limt: unknown query parameter (did you mean "limit"?)'],
      ['group=web&bogus=1', 'bogus: unknown query parameter'],
      ['limit=1&limit=500', 'limit: given more than once'],
      ['group=web&group=api', 'group: given more than once'],
    ];
    for (const [query, error] of cases) {
      const res = await api.call(`/api/scalability/events?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.equal(res.body.error, error, query);
    }
    // What the CLI and the MCP tools send still works.
    const ok = await api.call('/api/scalability/events?limit=1&group=web&since=0');
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.events.length, 1, ok.text);
  });

  it('stream: an unknown or repeated query parameter is a 400 naming it, and takes no slot', async () => {
    for (const [query, error] of [
      ['grup=web', 'grup: unknown query parameter (did you mean "group"?)'],
      ['group=web&group=web', 'group: given more than once'],
    ] as const) {
      // More than the 10 streams a token may hold: a refused request must not keep one.
      for (let i = 0; i < 12; i++) {
        // fetch resolves at the head: a stream that was opened instead is cancelled, not awaited.
        const abort = new AbortController();
        const res = await fetch(`${api.base}/api/scalability/stream?${query}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
          signal: abort.signal,
        });
        const status = res.status;
        const body = status === 400 ? await res.text() : '';
        abort.abort();
        assert.equal(status, 400, `${query}: answered ${status}`);
        assert.equal(JSON.parse(body).error, error, query);
      }
    }
    const head = await api.call('/api/scalability/stream?group=web', { method: 'HEAD' });
    assert.equal(head.status, 200, head.text);
  });

  // A failed zod union says only "Invalid input".
  // A typo'd field was `instance: unknown field`, with nothing about the field meant, where the
  // config's unknown keys name it; and 2.5 instances read `expected int, received number`.
  it('a misspelt field names the one meant, a fraction says a whole number; nothing changes', async () => {
    const before = api.controller.status('web').desired;
    for (const [path, body, error] of [
      [
        '/api/scalability/scale-group',
        { group: 'web', action: 'set', instance: 3 },
        'instance: unknown field (did you mean "instances"?)',
      ],
      [
        '/api/scalability/scale-group',
        { group: 'web', action: 'set', instances: 2.5 },
        'instances: expected a whole number',
      ],
      [
        '/api/scalability/scale-group',
        { group: 'web', acton: 'scale-out', force: true },
        'action: required (one of scale-out, scale-in, set); acton: unknown field (did you mean "action"?); force: unknown field',
      ],
      [
        '/api/scalability/resize-group',
        { group: 'web', cpus: 1 },
        'cpus: unknown field (did you mean "cpu"?)',
      ],
    ] as const) {
      const res = await api.call(path, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      assert.deepEqual([res.status, res.body.error], [400, error], JSON.stringify(body));
    }
    assert.equal(api.controller.status('web').desired, before);
  });

  it('resize-group: cpu or memory of the wrong type says what the field takes', async () => {
    for (const [body, error] of [
      [{ group: 'web', cpu: [1] }, 'cpu: expected cores such as 0.5 or "500m"'],
      [{ group: 'web', memory: { mi: 256 } }, 'memory: expected bytes or a size such as "256Mi"'],
      [{ group: 'web', cpu: null }, 'cpu: expected cores such as 0.5 or "500m"'],
    ] as const) {
      const res = await api.call('/api/scalability/resize-group', {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error, error, JSON.stringify(body));
    }
  });

  // JSON.parse keeps the last of two equal names: this body set the group to 1.
  it('a name given twice in one JSON object is a 400 naming it, and changes nothing', async () => {
    const before = api.controller.status('web').desired;
    for (const [body, error] of [
      ['{"group":"web","action":"scale-in","instances":1,"action":"set"}', 'action: given more than once'],
      ['{"group":"web","action":"set","instances":2,"instances":4}', 'instances: given more than once'],
      ['{"group":"web","action":"set","instances":2,"x":{"a":1,"a":2}}', 'x.a: given more than once'],
      ['{"group":"web","act\\u0069on":"set","action":"set","instances":2}', 'action: given more than once'],
    ] as const) {
      const res = await api.call('/api/scalability/scale-group', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error, error, body);
    }
    assert.equal(api.controller.status('web').desired, before, 'desired count unchanged');
    // Equal names in different objects, and names inside strings, are fine.
    const ok = await api.call('/api/scalability/scale-group', {
      method: 'POST',
      body: '{"group":"web","action":"set","instances":2}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(ok.status, 200, ok.text);
  });
});

describe('duplicateName', () => {
  const cases: [string, string | undefined][] = [
    ['{"a":1,"b":2}', undefined],
    ['[{"a":1},{"a":2}]', undefined],
    ['{"a":{"a":1},"b":{"a":2}}', undefined],
    ['{"u":["{\\"a\\":1,\\"a\\":2}"]}', undefined],
    ['{"a\\"":1,"a":2}', undefined],
    ['{"a":1,"a":2}', 'a'],
    ['{"u":[1,{"x":1},{"a":1,"a":2}]}', 'u.2.a'],
    ['{"x":{"y":[[],{"z":0,"z":0}]}}', 'x.y.1.z'],
    ['{"\\u0061":1,"a":2}', 'a'],
  ];
  for (const [text, expected] of cases)
    it(`${text} → ${expected ?? 'none'}`, () => {
      JSON.parse(text); // the cases are valid JSON, as readJson hands them over
      assert.equal(duplicateName(text), expected);
    });
});
