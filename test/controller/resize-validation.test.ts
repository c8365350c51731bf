// POST /api/scalability/resize-group with a size no instance can get: 400 naming the field, nothing
// journaled, the provider not asked. Before, `memory: "99999999Ti"` (1.1e20 bytes, not even exact
// as a number) was accepted (202) and rolled to, and the other refusals began `resize: memory …`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSize } from '../../src/providers/index.js';
import { startApi } from '../helpers/api-harness.js';

const MIB = 1024 * 1024;

describe('resize-group refuses a size no instance can get', () => {
  const cases: { body: Record<string, unknown>; mentions: RegExp }[] = [
    {
      body: { memory: '99999999Ti' },
      mentions: /^memory: must be whole bytes from 4Mi .*got 109951161678088370000$/,
    },
    { body: { memory: 2 ** 53 }, mentions: /^memory: must be whole bytes/ },
    { body: { memory: '1Ki' }, mentions: /^memory: must be whole bytes from 4Mi \(4194304\) .*got 1024$/ },
    { body: { memory: 0 }, mentions: /^memory: .*got 0$/ },
    { body: { cpu: 0.5, memory: '2Mi' }, mentions: /^memory: / },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.body)} → 400`, async (t) => {
      const api = await startApi({ resizable: true });
      t.after(api.close);
      let resized = 0;
      Object.assign(api.provider, {
        kind: 'local',
        resizes: ['cpu', 'memory'],
        resize: async () => {
          resized++;
        },
      });
      const journalled = api.journal.entries().length;
      const res = await api.call('/api/scalability/resize-group', {
        method: 'POST',
        body: JSON.stringify({ group: 'web', ...c.body }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, 400, res.text);
      assert.match(res.body.error, c.mentions);
      assert.equal(resized, 0, 'the provider was not asked to resize');
      assert.equal(api.journal.entries().length, journalled, 'nothing journaled');
    });
  }

  it('validateSize: the boundaries, each side', () => {
    const refused = (size: Parameters<typeof validateSize>[0]) =>
      assert.throws(() => validateSize(size), { code: 'INVALID_ARGUMENT' });
    validateSize({ memory: 4 * MIB });
    refused({ memory: 4 * MIB - 1 });
    validateSize({ memory: Number.MAX_SAFE_INTEGER });
    refused({ memory: Number.MAX_SAFE_INTEGER + 1 });
    refused({ memory: 4 * MIB + 0.5 });
    validateSize({ cpu: 0.001 });
    refused({ cpu: 0 });
    refused({ cpu: Number.POSITIVE_INFINITY });
    assert.throws(() => validateSize({}), /^ProviderError: resize: give cpu, memory or an instance type$/);
  });
});
