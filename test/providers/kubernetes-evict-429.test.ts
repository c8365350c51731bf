// An eviction answered 429 says which 429 it was: a PodDisruptionBudget's (the budget's own words,
// CAPACITY) or the API server's request throttling (API Priority and Fairness: BUSY, no budget
// involved). Neither is bypassed by a delete. Against KubeServer (kube-server.ts), through the
// official client over real HTTP.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import type { KubernetesProvider } from '../../src/providers/index.js';
import { type KubeServer, webOnKube } from './kube-server.js';

async function three(t: TestContext): Promise<{ server: KubeServer; provider: KubernetesProvider }> {
  const { server, provider } = await webOnKube(t, 3);
  await provider.start();
  await provider.scaleTo(3);
  return { server, provider };
}

const deletes = (server: KubeServer) => server.requests.filter((r) => r.method === 'DELETE').length;

it("a budget's 429: CAPACITY with the budget's words", async (t) => {
  const { server, provider } = await three(t);
  server.setBudget('shop', 'web', 3);
  const victim = provider.instances()[0]!.id;
  await assert.rejects(provider.replace(victim), {
    name: 'ProviderError',
    code: 'CAPACITY',
    message: `Deployment shop/web: eviction of ${victim} refused (429 TooManyRequests: Cannot evict pod as it would violate the pod's disruption budget. The disruption budget web needs 3 healthy pods and has 3 currently); try again later`,
  });
  assert.equal(deletes(server), 0, 'no delete');
});

it("a throttling 429 (API Priority and Fairness) is not called a budget: BUSY, with the server's words", async (t) => {
  const { server, provider } = await three(t);
  server.eviction = 'throttled';
  const victim = provider.instances()[0]!.id;
  // Before: "refused (429): a PodDisruptionBudget allows no disruption now", with no budget there.
  await assert.rejects(provider.replace(victim), {
    name: 'ProviderError',
    code: 'BUSY',
    message: `Deployment shop/web: eviction of ${victim} refused (429 TooManyRequests: Too many requests, please try again later.); try again later`,
  });
  assert.equal(deletes(server), 0, 'no delete');
});
