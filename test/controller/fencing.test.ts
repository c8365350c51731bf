// Fencing against the lease store on real Redis: a leader whose lease was taken while it still
// believes it leads (a pause, a partition) is refused by the store right before it acts — a
// scale, and a local instance start (crash replacement included) — and instances it handed over
// keep running for the next leader.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { FileState, LeaderElector, RedisLease } from '../../src/controller/index.js';
import { FencedProvider, ProviderError } from '../../src/providers/index.js';
import { processGroupMembers, waitUntilGone } from '../helpers/cli-process.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { makeProvider } from '../providers/local-helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

async function stolenLease() {
  const name = `fence-test-${randomBytes(4).toString('hex')}`;
  const mine = new RedisLease({ url: REDIS_URL, name });
  const theirs = new RedisLease({ url: REDIS_URL, name });
  await Promise.all([mine.connect(), theirs.connect()]);
  // A long ttl and interval: the elector will not notice the theft during the test, exactly like
  // a leader that has not yet run its next renewal.
  const elector = new LeaderElector({ store: mine, holder: 'old-leader', ttl: 60_000 });
  await elector.start();
  const grant = elector.grant!;
  const check = async (token: number) => elector.grant?.token === token && (await mine.check(token));
  return {
    grant,
    check,
    async steal() {
      await theirs.release(grant);
      const taken = await theirs.acquire('new-leader', 60_000);
      assert.ok(taken && taken.token > grant.token);
      assert.ok(elector.grant, 'the old leader still believes it leads');
    },
    async close() {
      await elector.close();
      await Promise.all([mine.close(), theirs.close()]);
      const redis = new Redis(REDIS_URL);
      await redis.del(`${name}:leader`, `${name}:fencing-token`);
      await redis.quit();
    },
  };
}

describe('fencing', () => {
  it('FencedProvider: scaleTo passes with the current token and is refused (FENCED) once the lease moved', async () => {
    const lease = await stolenLease();
    after(() => lease.close());
    const inner = new MemoryProvider('web');
    const fenced = new FencedProvider(inner, lease.check);
    await assert.rejects(fenced.scaleTo(1), { code: 'FENCED' }, 'no token: not leading');
    fenced.setToken(lease.grant.token);
    await fenced.scaleTo(2);
    assert.deepEqual(inner.calls, [2]);

    await lease.steal();
    await assert.rejects(fenced.scaleTo(3), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.code, 'FENCED');
      return true;
    });
    assert.deepEqual(inner.calls, [2], 'the refused scale never reached the provider');
  });

  it('LocalProvider: a crash replacement by a fenced leader is refused; released instances keep running', async (t) => {
    const lease = await stolenLease();
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-fence-'));
    const registry = new FileState({ path: join(dir, 'state.json') });
    let fenced: FencedProvider | undefined;
    const local = makeProvider(
      t,
      {},
      {
        registry,
        logDir: dir,
        fence: (what) => fenced!.assertLeading(what),
      },
    );
    fenced = new FencedProvider(local, lease.check);
    fenced.setToken(lease.grant.token);
    const pids: number[] = [];
    after(async () => {
      for (const pid of pids) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {}
      }
      await lease.close();
      await rm(dir, { recursive: true, force: true });
    });
    await fenced.scaleTo(2);
    pids.push(...local.instances().map((i) => i.pid!));
    assert.equal(pids.length, 2);

    await lease.steal();
    const errors: Error[] = [];
    fenced.on('error', (err) => errors.push(err));
    const refused = new Promise<void>((resolve) => {
      fenced.on('error', (err) => {
        if ((err as ProviderError).code === 'FENCED') resolve();
      });
    });
    // One instance dies: the provider tries to replace it, and the fence refuses the start.
    process.kill(-pids[0]!, 'SIGKILL');
    await refused;
    assert.equal(local.instances().length, 1, 'no replacement was started');
    assert.deepEqual(
      local.instances().map((i) => i.pid),
      [pids[1]],
    );

    // Handing over: the survivor is forgotten, not stopped, and stays recorded for the next leader.
    await fenced.release();
    assert.deepEqual(local.instances(), []);
    assert.ok(processGroupMembers([pids[1]!]).length > 0, 'the released instance still runs');
    assert.deepEqual(
      (await registry.list('web')).map((r) => r.pid),
      [pids[1]],
    );
    await local.close();
    assert.ok(processGroupMembers([pids[1]!]).length > 0, 'closing after release stops nothing');
    process.kill(-pids[1]!, 'SIGTERM');
    assert.deepEqual(await waitUntilGone([pids[1]!], 5_000), []);
    assert.ok(errors.some((e) => (e as ProviderError).code === 'FENCED'));
  });
});
