// The pods of a workload are those its whole `spec.selector` selects: `matchLabels` and
// `matchExpressions`, as the ReplicaSet and StatefulSet controllers select them. Against KubeServer
// (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { type KubernetesProvider, ProviderError } from '../../src/providers/index.js';
import { labelSelector } from '../../src/providers/kubernetes/index.js';
import { until } from '../helpers/until.js';
import { type KubeServer, webOnKube } from './kube-server.js';

async function setup(
  t: TestContext,
  selector: object,
): Promise<{ server: KubeServer; provider: KubernetesProvider }> {
  return webOnKube(t, 2, {
    arrange: (server) => {
      server.workloads.get('shop/web')!.object.spec.selector = selector;
      // A canary's pod in the same namespace: app=web like the workload's, but track=canary.
      server.addPod('shop', 'web-canary-0', { app: 'web', track: 'canary' });
    },
  });
}

it('a selector with matchExpressions leaves out the pods it excludes (a canary sharing app=web)', async (t) => {
  const { server, provider } = await setup(t, {
    matchLabels: { app: 'web' },
    matchExpressions: [{ key: 'track', operator: 'NotIn', values: ['canary'] }],
  });
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length >= 2,
    5000,
    'the two pods of web Ready',
  );
  const ids = provider.instances().map((i) => i.id);
  t.diagnostic(`instances: ${ids.join(', ')}`);
  assert.ok(!ids.includes('web-canary-0'), `the canary's pod is not an instance of web: ${ids.join(', ')}`);
  assert.equal(ids.length, 2);
  const list = server.requests.find((r) => r.method === 'GET' && r.path === '/api/v1/namespaces/shop/pods');
  assert.equal(list?.query.labelSelector, 'app=web,track notin (canary)');
  // A scale settles on the workload's own pods: 3 Ready, not 3 counting the canary.
  await provider.scaleTo(3);
  assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 3);
  assert.ok(
    !provider.instances().some((i) => i.id === 'web-canary-0'),
    'the canary is still left out after the scale',
  );
});

it('a selector of matchExpressions only is valid: the pods are selected by them', async (t) => {
  const { provider } = await setup(t, {
    matchExpressions: [
      { key: 'app', operator: 'In', values: ['web', 'www'] },
      { key: 'track', operator: 'DoesNotExist' },
    ],
  });
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length >= 2,
    5000,
    'the two pods of web Ready',
  );
  const ids = provider.instances().map((i) => i.id);
  assert.ok(!ids.includes('web-canary-0'), `the canary's pod is not an instance of web: ${ids.join(', ')}`);
  assert.equal(ids.length, 2);
});

it('an empty selector fails start naming spec.selector', async (t) => {
  const { provider } = await setup(t, {});
  await assert.rejects(provider.start(), (err: unknown) => {
    assert.ok(err instanceof ProviderError, 'a ProviderError');
    assert.equal(err.code, 'API_ERROR');
    assert.equal(
      err.message,
      'Deployment shop/web: spec.selector is empty (no matchLabels, no matchExpressions)',
    );
    return true;
  });
});

it('renders every matchExpressions operator as the API server parses it', () => {
  assert.equal(
    labelSelector({
      matchLabels: { app: 'web', tier: 'front' },
      matchExpressions: [
        { key: 'track', operator: 'In', values: ['stable', 'blue'] },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
        { key: 'owner', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,tier=front,track in (stable,blue),env notin (dev),owner,!legacy',
  );
  assert.equal(labelSelector({ matchLabels: { app: 'web' } }), 'app=web');
});
