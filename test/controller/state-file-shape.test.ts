// A state file that is valid JSON of another shape (hand-edited, or written by something else) is
// refused at load with STATE_CORRUPT naming the file and the field. Before, it was taken as it came:
// `null` failed start with a TypeError naming no file, a desired count that is not a number started
// the group at NaN (a scale the provider refuses: the group stayed at 0), a malformed instance
// record crashed the local provider's adoption.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileState, StateError } from '../../src/controller/state/index.js';

const record = { id: 'web-1', pid: 4242, port: 3001, startTime: 123, startedAt: 1_700_000_000_000 };

const refused: [text: string, field: RegExp][] = [
  ['null', /the file holds null, not an object/],
  ['[]', /the file holds a list/],
  ['{"desired": {"web": "x"}}', /desired\.web is "x", not a whole number >= 0/],
  ['{"desired": {"web": -1}}', /desired\.web is -1/],
  ['{"desired": {"web": 1.5}}', /desired\.web is 1\.5/],
  ['{"desired": []}', /desired is a list/],
  ['{"journal": {}}', /journal is an object, not a list/],
  ['{"journal": [null]}', /journal\[0\] is null/],
  ['{"journal": [{"group": "web"}]}', /journal\[0\]\.seq is missing/],
  ['{"instances": {"web": 5}}', /instances\.web is 5, not an object/],
  ['{"instances": {"web": {"web-1": null}}}', /instances\.web\.web-1 is null/],
  [
    JSON.stringify({ instances: { web: { 'web-1': { ...record, pid: '4242' } } } }),
    /instances\.web\.web-1\.pid is "4242"/,
  ],
  [
    JSON.stringify({ instances: { web: { 'web-1': { ...record, id: 'web-2' } } } }),
    /instances\.web\.web-1\.id is "web-2"/,
  ],
  ['{"sizes": 3}', /sizes is 3/],
];

describe('file state store: a file of the wrong shape', () => {
  for (const [text, field] of refused) {
    it(`refuses ${text.length > 60 ? `${text.slice(0, 60)}…` : text} naming the file and the field`, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'scaleplane-state-shape-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const path = join(dir, 'state.json');
      await writeFile(path, text);
      const store = new FileState({ path });
      const check = (err: unknown) => {
        assert.ok(err instanceof StateError, `a StateError, got ${String(err)}`);
        assert.equal(err.code, 'STATE_CORRUPT');
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, field);
        return true;
      };
      await assert.rejects(store.load(), check);
      await assert.rejects(store.list('web'), check);
    });
  }

  it('loads a well-formed file, and one without the optional sections', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-state-shape-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'state.json');
    const store = new FileState({ path });
    await writeFile(path, '{"version": 1}');
    assert.deepEqual(await store.load(), { desired: {}, journal: [] });
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        desired: { web: 3, idle: 0 },
        journal: [
          {
            seq: 1,
            group: 'web',
            time: 'x',
            source: 'api',
            before: 1,
            after: 3,
            reasons: [],
            message: '',
            inputs: {},
          },
        ],
        instances: { web: { 'web-1': record } },
        sizes: {},
      }),
    );
    assert.deepEqual((await store.load()).desired, { web: 3, idle: 0 });
    assert.deepEqual(await store.list('web'), [record]);
  });
});
