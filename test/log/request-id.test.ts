import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureRequestId, REQUEST_ID_HEADER, requestIdOf } from '../../src/log/index.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  const cases: { name: string; given: string | string[] | undefined; kept: boolean }[] = [
    { name: 'absent', given: undefined, kept: false },
    { name: 'plain', given: 'abc-123_x.y', kept: true },
    { name: 'a UUID', given: '0b8c1a36-7f0e-4a59-9d0f-2f4f1c8f3b7e', kept: true },
    { name: 'empty', given: '', kept: false },
    { name: 'with a space', given: 'a b', kept: false },
    { name: 'with a newline', given: 'a\nforged log line', kept: false },
    { name: '129 characters', given: 'x'.repeat(129), kept: false },
    { name: '128 characters', given: 'x'.repeat(128), kept: true },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.kept ? 'kept' : 'replaced by a new UUID'}`, () => {
      const id = requestIdOf(c.given === undefined ? {} : { [REQUEST_ID_HEADER]: c.given });
      if (c.kept) assert.equal(id, c.given);
      else assert.match(id, UUID);
    });
  }

  it('ensureRequestId writes the id into the headers to forward, first value of a repeated header', () => {
    const headers: Record<string, string | string[] | undefined> = {
      [REQUEST_ID_HEADER]: ['first', 'second'],
    };
    assert.equal(ensureRequestId(headers), 'first');
    assert.equal(headers[REQUEST_ID_HEADER], 'first');
    const fresh: Record<string, string> = {};
    const id = ensureRequestId(fresh);
    assert.match(id, UUID);
    assert.equal(fresh[REQUEST_ID_HEADER], id);
    assert.notEqual(ensureRequestId({}), id);
  });
});
