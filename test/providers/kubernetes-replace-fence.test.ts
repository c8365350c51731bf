// A replacement drains the pod before it evicts it: the drain (drain_timeout) outlasts the fence
// check of replace, and a controller deposed meanwhile (its lease lost to a partition, a pause)
// must not evict a pod its successor counts. The fence is asked right before the eviction. Against
// KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ProviderError } from '../../src/providers/index.js';
import { webOnKube } from './kube-server.js';

it('a controller deposed while draining for a replacement evicts nothing', async (t) => {
  let leading = true;
  const asked: string[] = [];
  const { server, provider } = await webOnKube(t, 3, {
    options: {
      drain: async () => {
        leading = false;
      },
      fence: async (what) => {
        asked.push(what);
        if (!leading)
          throw new ProviderError('FENCED', `${what} refused: fencing token 7 is not the lease's`);
      },
    },
  });
  await provider.start();
  await provider.scaleTo(3);
  const victim = provider.instances()[0]!.id;
  const sent = server.requests.length;
  await assert.rejects(provider.replace(victim), { name: 'ProviderError', code: 'FENCED' });
  const writes = server.requests.slice(sent).filter((r) => r.method !== 'GET');
  assert.deepEqual(
    writes.map((r) => `${r.method} ${r.path}`),
    [],
    `the deposed controller wrote to the API server (asked the fence: ${asked.join('; ') || 'never'})`,
  );
});
