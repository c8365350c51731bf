// A local instance whose record the state store refused (a Redis that takes no writes for a while:
// `min-replicas-to-write` with its replica away, a failover under way) is recorded once the store
// takes writes again. Before, the failed write was reported and never tried again: the instance ran
// unrecorded, no standby routed to it, and the next leader did not adopt it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisState } from '../../src/controller/state/index.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until as untilTrue } from '../helpers/until.js';
import { closeBeforeRemoval, makeProvider, tempDir, until } from './local-helpers.js';

describe('a local instance whose record the state store refused', () => {
  it('is recorded once the store takes writes again', async (t) => {
    // First: its hook closes the provider (which removes its records) before the server goes below.
    const dir = await tempDir(t, 'record-retry');
    const server = new RedisServer(await freePort());
    await server.start();
    const admin = new Redis(server.url);
    t.after(async () => {
      admin.disconnect();
      await server.kill();
    });
    const state = new RedisState({ url: server.url, name: 'record-retry' });
    await state.connect();
    closeBeforeRemoval(t, state);
    const provider = makeProvider(t, {}, { registry: state, logDir: dir });
    const errors: string[] = [];
    provider.on('error', (err) => errors.push(`${(err as { code?: string }).code}: ${err.message}`));
    await provider.start();

    // No replica: every write is refused with NOREPLICAS, as by an isolated primary.
    await admin.config('SET', 'min-replicas-to-write', '1');
    const scaled = provider.scaleTo(1);
    await untilTrue(() => errors.length > 0, 15_000, 'the refused record write is reported');
    const [instance] = provider.instances();
    assert.ok(instance, 'the instance was started');
    assert.deepEqual(await state.list('web'), [], 'not recorded while the store refuses writes');
    await admin.config('SET', 'min-replicas-to-write', '0');
    await scaled;
    await until(provider, () => provider.instances()[0]?.state === 'ready');
    let recorded: string[] = [];
    await untilTrue(
      async () => {
        recorded = (await state.list('web')).map((r) => r.id);
        return recorded.includes(instance.id);
      },
      10_000,
      `${instance.id} recorded once the store takes writes`,
    );
    console.log(`errors: ${JSON.stringify(errors)}; recorded: ${JSON.stringify(recorded)}`);
    assert.equal(errors.length, 1, 'the failure said once, not on every try');
    assert.match(errors[0]!, /^RECORD_FAILED: .*NOREPLICAS/);
  });
});
