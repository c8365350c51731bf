// A start the HA fence refused is asked again. A refusal does not prove another controller leads: a
// lease check that answered past the renew deadline on a loaded machine refuses too, and the leader
// goes on leading. Before, a scale-out 3 → 5 on such a leader started web-4 only
// (ha-standby-routing.test.ts failed "not 5 ready" in a CI run) and the group stayed one short
// until the next scaleTo, which a group scaled by hand never gets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProviderError } from '../../src/providers/index.js';
import { makeProvider, until } from './local-helpers.js';

describe('local provider, a start refused by the fence', () => {
  it('is asked again while the provider leads, and the group reaches its count', async (t) => {
    const asked: string[] = [];
    let refuseNext = 0;
    const provider = makeProvider(
      t,
      {},
      {
        fence: async (what) => {
          asked.push(what);
          if (what.startsWith('start') && refuseNext > 0) {
            refuseNext--;
            throw new ProviderError('FENCED', `${what} refused: fencing token 1 is not the lease's`);
          }
        },
      },
    );
    await provider.scaleTo(1);
    refuseNext = 1;
    await provider.scaleTo(3);
    const ready = () => provider.instances().filter((i) => i.state === 'ready').length;
    await until(provider, () => ready() === 3, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${ready()} ready; fence asked: ${asked.join(', ')}`);
    });
    const starts = asked.filter((w) => w.startsWith('start'));
    // web-1; then web-2 and web-3, one of them refused; then the refused one's successor, web-4.
    assert.deepEqual(
      starts,
      ['start web-1', 'start web-2', 'start web-3', 'start web-4'],
      `fence asked: ${asked.join(', ')}`,
    );
    assert.equal(
      provider.instances().length,
      3,
      `listed: ${provider
        .instances()
        .map((i) => `${i.id}:${i.state}`)
        .join(', ')}`,
    );
  });
});
