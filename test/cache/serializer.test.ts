import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildEntry,
  classifyEntry,
  decodeEntry,
  encodeEntry,
  freshPayloadAt,
  jsonSerializer,
} from '../../src/cache/index.js';

test('jsonSerializer keeps Date, Map, Set, BigInt, undefined and non-finite numbers', () => {
  const cases: [string, unknown][] = [
    ['string', 'hello'],
    ['number', 42.5],
    ['null', null],
    ['undefined', undefined],
    ['date', new Date('2024-05-06T07:08:09.010Z')],
    ['bigint', 12345678901234567890n],
    [
      'map',
      new Map<unknown, unknown>([
        ['a', 1],
        [2, new Date(0)],
      ]),
    ],
    ['set', new Set(['x', 1n])],
    [
      'nested',
      {
        user: { id: 1n, seen: new Date(5), roles: new Set(['a']) },
        list: [undefined, Number.NaN, -Infinity],
      },
    ],
    ['tag-shaped user object', { $sp: 'Date', v: '2024-01-01' }],
    ['nested tag-shaped', { a: [{ $sp: 'Map', v: [] }] }],
  ];
  for (const [name, value] of cases) {
    const text = jsonSerializer.serialize(value);
    assert.equal(typeof text, 'string', name);
    assert.deepEqual(jsonSerializer.deserialize(text), value, name);
  }
});

test('jsonSerializer keeps Buffer, ArrayBuffer and typed arrays (they came back as plain objects)', () => {
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  const cases: [string, unknown][] = [
    ['buffer', Buffer.from('héllo \u0000 bytes')],
    ['empty buffer', Buffer.alloc(0)],
    ['buffer slice of a pool', Buffer.from('0123456789').subarray(3, 7)],
    ['uint8array', bytes],
    ['float64array', new Float64Array([1.5, Number.NaN, -0, Number.POSITIVE_INFINITY])],
    ['int16array view at an offset', new Int16Array(new ArrayBuffer(8), 2, 2).fill(-7)],
    ['bigint64array', new BigInt64Array([-1n, 2n ** 62n])],
    ['arraybuffer', bytes.buffer],
    [
      'nested',
      { file: Buffer.from('x'), parts: [new Uint32Array([7])], m: new Map([['b', Buffer.from('y')]]) },
    ],
    ['buffer-shaped user object', { type: 'Buffer', data: [1, 2] }],
  ];
  for (const [name, value] of cases) {
    const back = jsonSerializer.deserialize(jsonSerializer.serialize(value));
    assert.deepEqual(back, value, name);
  }
  const buffer = jsonSerializer.deserialize(jsonSerializer.serialize(Buffer.from('ab')));
  assert.ok(Buffer.isBuffer(buffer), 'a Buffer comes back a Buffer');
  const u8 = jsonSerializer.deserialize(jsonSerializer.serialize(bytes));
  assert.ok(u8 instanceof Uint8Array && !Buffer.isBuffer(u8), 'a Uint8Array comes back a Uint8Array');
});

test('jsonSerializer: plain objects drop undefined properties as JSON does', () => {
  assert.deepEqual(jsonSerializer.deserialize(jsonSerializer.serialize({ a: 1, b: undefined })), { a: 1 });
});

test('envelope round-trips an entry and rejects foreign data', () => {
  const entry = buildEntry(
    { a: 1 },
    ['t1', 'tag "two"'],
    {
      ttl: 1000,
      jitter: 0,
      earlyRefresh: 0.5,
      staleWhileRevalidate: 100,
      staleIfError: 300,
      negativeTtl: 0,
    },
    1_700_000_000_000,
    Math.random,
  )!;
  const payload = 'line1\nline2';
  const decoded = decodeEntry(encodeEntry(entry, payload))!;
  assert.deepEqual(decoded, { ...entry, value: payload });
  for (const foreign of [
    '',
    'hello',
    'sp1 1 2 3 4 5 0\n[]\nx',
    'sp2 1 2 3\n[]\nx',
    'sp2 1 2 x 4 5 0\n[]\nx',
    'sp2 1 2  4 5 0\n[]\nx',
    'sp2 1 2 3 4 5 7\n[]\nx',
    'sp2 1 2 3 4 5 0\n{\nx',
    'sp2 1 2 3 4 5 0\n["t"]',
  ])
    assert.equal(decodeEntry(foreign), undefined, JSON.stringify(foreign));
});

test('envelope keeps the marks of a custom clock: fractional, or near zero', () => {
  for (const createdAt of [1_700_000_000_000.5, 0, 42]) {
    const entry = {
      value: null,
      createdAt,
      refreshAt: createdAt + 0.25,
      freshUntil: createdAt + 10,
      staleUntil: createdAt + 10,
      graceUntil: createdAt + 20,
      tags: [],
      negative: true,
    };
    assert.deepEqual(decodeEntry(encodeEntry(entry, 'p')), { ...entry, value: 'p' }, String(createdAt));
  }
});

test('envelope: decodeEntry reads the bytes Redis holds as it reads the text, multi-byte UTF-8 included', () => {
  const entry = buildEntry(
    'v',
    ['tàg', '标签'],
    { ttl: 1000, jitter: 0, earlyRefresh: 0, staleWhileRevalidate: 0, staleIfError: 0, negativeTtl: 0 },
    1_700_000_000_000,
    Math.random,
  )!;
  const text = encodeEntry(entry, '"Zoë 🚀\nnext line"');
  assert.deepEqual(decodeEntry(Buffer.from(text)), decodeEntry(text));
  assert.deepEqual(decodeEntry(Buffer.from(text)), { ...entry, value: '"Zoë 🚀\nnext line"' });
});

test('freshPayloadAt finds the payload exactly while classifyEntry says fresh, and only then', () => {
  const created = 1_700_000_000_000;
  const policy = {
    ttl: 1000,
    jitter: 0,
    earlyRefresh: 0,
    staleWhileRevalidate: 500,
    staleIfError: 2000,
    negativeTtl: 300,
  };
  const cases: [string, unknown, readonly string[], typeof policy][] = [
    ['plain', { a: 1 }, [], policy],
    ['tagged, multi-byte', 'Zoë 🚀', ['t1', 'tàg "q"'], policy],
    ['early refresh', [1, 2], [], { ...policy, earlyRefresh: 0.5 }],
    ['negative', null, ['t'], policy],
    ['empty payload', '', [], policy],
  ];
  for (const [name, value, tags, p] of cases) {
    const entry = buildEntry(value, tags, p, created, Math.random)!;
    const payload = value === '' ? '' : jsonSerializer.serialize(value);
    const data = Buffer.from(encodeEntry(entry, payload));
    for (const now of [
      created - 1,
      created,
      entry.refreshAt - 1,
      entry.refreshAt,
      entry.freshUntil,
      entry.graceUntil + 1,
    ]) {
      const at = freshPayloadAt(data, now);
      if (classifyEntry(entry, now) === 'fresh')
        assert.equal(data.toString('utf8', at), payload, `${name} at ${now}`);
      else assert.equal(at, -1, `${name} at ${now}`);
    }
  }
});

test('freshPayloadAt turns away what decodeEntry rejects, and fractional marks (left to decodeEntry)', () => {
  for (const foreign of [
    '',
    'hello',
    'sp1 1 2 3 4 5 0\n[]\nx',
    'sp2 1 2 3\n[]\nx',
    'sp2 1 2 x 4 5 0\n[]\nx',
    'sp2 1 2  4 5 0\n[]\nx',
    'sp2 1 2 3 4 5 7\n[]\nx',
    'sp2 1 2 3 4 5 0\n{\nx',
    'sp2 1 2 3 4 5 0\n["t"]',
    'sp2 1 2 3 4 5 0',
    'sp2 1.5 2 3 4 5 0\n[]\nx',
  ])
    assert.equal(freshPayloadAt(Buffer.from(foreign), 0), -1, JSON.stringify(foreign));
  assert.equal(decodeEntry(Buffer.from('sp2 1.5 2 3 4 5 0\n[]\nx'))?.refreshAt, 3.5);
});

test('jsonSerializer reads plain JSON written by anything else, and marks only text that needs reviving', () => {
  assert.deepEqual(jsonSerializer.deserialize('{"a":[1,"x"]}'), { a: [1, 'x'] });
  assert.equal(jsonSerializer.serialize({ a: 1 }), '{"a":1}');
  assert.match(jsonSerializer.serialize({ at: new Date(0) }), /^~/);
});
