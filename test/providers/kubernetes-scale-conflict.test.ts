// A scale writes spec.replicas with optimistic concurrency, as client-go's RetryOnConflict around a
// read and an update of the scale: it reads the scale, and writes its count at the resourceVersion
// read only when spec.replicas is still the count Scaleplane last wrote or read. A count another
// client set between Scaleplane's decision and its write (`kubectl scale`, an HPA's sync) is not
// written over: the scale fails BUSY naming it, and desired() takes it. Before, the merge patch
// carried no precondition and overwrote it unseen. Against KubeServer (kube-server.ts), through
// the official client over real HTTP; the other client has its own token.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { type KubeServer, kubeConfig, webOnKube } from './kube-server.js';

const SCALE = '/apis/apps/v1/namespaces/shop/deployments/web/scale';

/** heldOnce runs `other` (another client's write) when Scaleplane's first PATCH of the scale arrives, before it is carried out. */
function heldOnce(server: KubeServer, other: () => Promise<unknown>): { ran: () => boolean } {
  let ran = false;
  server.hold = (method, path) => {
    if (ran || method !== 'PATCH' || path !== SCALE) return undefined;
    ran = true;
    return other().then(() => undefined);
  };
  return { ran: () => ran };
}

function operator(server: KubeServer): k8s.AppsV1Api {
  return kubeConfig(server.url, 'operator').makeApiClient(k8s.AppsV1Api);
}

it('a kubectl scale that lands between the decision and the write is not written over: BUSY naming it, desired() takes it', async (t) => {
  const warnings: string[] = [];
  const { server, provider } = await webOnKube(t, 2, {
    options: {
      logger: { info() {}, warn: (_f, msg) => warnings.push(msg), error() {} },
    },
  });
  await provider.start();
  assert.equal(provider.desired(), 2, 'started at 2');
  const held = heldOnce(server, () =>
    operator(server).patchNamespacedDeploymentScale(
      { name: 'web', namespace: 'shop', body: { spec: { replicas: 5 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    ),
  );
  const outcome = await provider.scaleTo(3).then(
    () => 'resolved',
    (err: Error & { code?: string }) => `${err.code}: ${err.message}`,
  );
  assert.ok(held.ran(), "the operator's scale landed as Scaleplane's PATCH arrived");
  const replicas = server.workloads.get('shop/web')!.object.spec.replicas;
  assert.equal(replicas, 5, `the operator's 5 stands in the Deployment (scaleTo: ${outcome})`);
  assert.equal(
    outcome,
    'BUSY: Deployment shop/web: replicas is 5, set by another client since the scale to 3 was decided (it was 2); not written over it: the next decision starts from 5',
    'the scale says whose count it met',
  );
  assert.equal(provider.desired(), 5, 'desired() takes the count set');
  assert.ok(
    warnings.includes(
      'Deployment shop/web: replicas is 5, set by another client (it was 2); desired is 5 now',
    ),
    `warned as any outside change: ${warnings.join(' | ')}`,
  );
});

it('a write that meets only a status or metadata change (409, the same count) is read again and goes through', async (t) => {
  const notes: string[] = [];
  const { server, provider } = await webOnKube(t, 2, {
    options: {
      logger: { info: (_f, msg) => notes.push(msg), warn() {}, error() {} },
    },
  });
  await provider.start();
  const held = heldOnce(server, () =>
    operator(server).patchNamespacedDeployment(
      { name: 'web', namespace: 'shop', body: { metadata: { annotations: { team: 'shop' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    ),
  );
  await provider.scaleTo(3);
  assert.ok(held.ran(), 'the annotation landed as the PATCH arrived');
  assert.equal(server.workloads.get('shop/web')!.object.spec.replicas, 3, 'the scale written');
  assert.equal(provider.desired(), 3, 'desired() is 3');
  const patches = server.requests.filter(
    (r) => r.method === 'PATCH' && r.path === SCALE && r.token === 'test-token',
  );
  assert.equal(patches.length, 2, 'the first PATCH refused 409, the second (after a read) written');
  for (const p of patches)
    assert.ok(
      typeof (p.body as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion === 'string',
      `each PATCH carries the resourceVersion read: ${JSON.stringify(p.body)}`,
    );
  assert.ok(
    notes.includes('Deployment shop/web: scale changed since it was read (409 Conflict); reading it again'),
    `the conflict noted: ${notes.join(' | ')}`,
  );
});
