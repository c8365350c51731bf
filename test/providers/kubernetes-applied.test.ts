// spec.replicas in a manifest that is applied again (kubectl apply, Argo CD, Flux) sets the replicas
// back over Scaleplane's at every apply: start warns, naming who applies them. Against KubeServer
// (kube-server.ts), through the official client over real HTTP, and purely.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { appliedReplicas, LAST_APPLIED } from '../../src/providers/kubernetes/index.js';
import { webOnKube } from './kube-server.js';

async function startWith(t: TestContext, metadata: object): Promise<string[]> {
  const warnings: string[] = [];
  const { provider } = await webOnKube(t, 2, {
    arrange: (server) => Object.assign(server.workloads.get('shop/web')!.object.metadata, metadata),
    options: { logger: { info() {}, warn: (_f, msg) => warnings.push(msg), error() {} } },
  });
  await provider.start();
  return warnings;
}

it('a Deployment whose kubectl-applied manifest sets replicas: start warns, naming the annotation', async (t) => {
  const warnings = await startWith(t, {
    annotations: {
      [LAST_APPLIED]: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 3 } }),
    },
  });
  assert.deepEqual(warnings, [
    `Deployment shop/web: the manifest last applied by kubectl (annotation ${LAST_APPLIED}) sets spec.replicas: 3: each apply sets the replicas back over Scaleplane's count; remove replicas from the manifest (as for an HPA)`,
  ]);
});

it('a Deployment whose replicas a server-side apply owns (Argo CD): start warns, naming the field manager', async (t) => {
  const warnings = await startWith(t, {
    managedFields: [
      { manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:status': {} } },
      {
        manager: 'argocd-controller',
        operation: 'Apply',
        fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:template': {} } },
      },
    ],
  });
  assert.deepEqual(warnings, [
    `Deployment shop/web: field manager "argocd-controller" (server-side apply) owns spec.replicas: each apply sets the replicas back over Scaleplane's count; remove replicas from the manifest (as for an HPA)`,
  ]);
});

it('manifests without replicas, or replicas written by a scale (Update), warn of nothing', () => {
  assert.equal(
    appliedReplicas({
      metadata: {
        annotations: { [LAST_APPLIED]: JSON.stringify({ spec: { template: {} } }) },
        managedFields: [
          { manager: 'scaleplane', operation: 'Update', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
          { manager: 'argocd-controller', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:template': {} } } },
        ],
      },
    }),
    undefined,
  );
  assert.equal(appliedReplicas({ metadata: { annotations: { [LAST_APPLIED]: 'not json' } } }), undefined);
  assert.equal(appliedReplicas({}), undefined);
});
