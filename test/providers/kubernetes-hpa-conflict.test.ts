// An HPA of someone else's that targets the same workload: two autoscalers writing one
// `spec.replicas` undo each other's scale every sync. Start refuses it, naming the HPA. Against
// KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import type { KubernetesProviderConfig } from '../../src/config/types.js';
import { type KubernetesProvider, ProviderError } from '../../src/providers/index.js';
import { type KubeServer, webOnKube } from './kube-server.js';

async function setup(
  t: TestContext,
  config: Partial<KubernetesProviderConfig> = {},
): Promise<{ server: KubeServer; provider: KubernetesProvider; warnings: string[] }> {
  const warnings: string[] = [];
  const { server, provider } = await webOnKube(t, 2, {
    config,
    options: { logger: { info() {}, warn: (_f, msg) => warnings.push(msg), error() {} } },
  });
  return { server, provider, warnings };
}

function hpa(name: string, target: { kind: string; name: string }) {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: 'shop', resourceVersion: '1' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', ...target }, minReplicas: 1, maxReplicas: 10 },
  };
}

it('mode controller: an HPA that also targets the Deployment fails start, naming it, and nothing is written', async (t) => {
  const { server, provider } = await setup(t);
  server.hpas.set('shop/web-cpu', hpa('web-cpu', { kind: 'Deployment', name: 'web' }));
  await assert.rejects(provider.start(), (err: unknown) => {
    assert.ok(err instanceof ProviderError, 'a ProviderError');
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.equal(
      err.message,
      "Deployment shop/web: HorizontalPodAutoscaler shop/web-cpu also scales it: it and Scaleplane would overwrite each other's replicas; delete that HPA, or set groups.web.mode: hpa to have Kubernetes scale",
    );
    return true;
  });
  assert.deepEqual(
    server.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`),
    [],
    'nothing written',
  );
});

it('mode hpa: a second HPA on the same Deployment fails start; our own HPA (named as the workload) does not', async (t) => {
  const { server, provider } = await setup(t, { mode: 'hpa' });
  server.hpas.set('shop/web', hpa('web', { kind: 'Deployment', name: 'web' }));
  server.hpas.set('shop/legacy', hpa('legacy', { kind: 'Deployment', name: 'web' }));
  await assert.rejects(provider.start(), {
    name: 'ProviderError',
    code: 'INVALID_ARGUMENT',
    message:
      "Deployment shop/web: HorizontalPodAutoscaler shop/legacy also scales it: two HPAs on one workload overwrite each other's replicas (recent Kubernetes stops both: AmbiguousSelector); delete it",
  });
});

it('HPAs of other workloads, or of a StatefulSet of the same name, are no conflict', async (t) => {
  const { server, provider } = await setup(t);
  server.hpas.set('shop/api', hpa('api', { kind: 'Deployment', name: 'api' }));
  server.hpas.set('shop/web-sts', hpa('web-sts', { kind: 'StatefulSet', name: 'web' }));
  await provider.start();
  await provider.scaleTo(3);
  assert.equal(provider.desired(), 3);
});

it('without RBAC to list HPAs, start goes on and warns that it could not check', async (t) => {
  const { server, provider, warnings } = await setup(t);
  server.forbid = (method, path) => method === 'GET' && path.endsWith('/horizontalpodautoscalers');
  await provider.start();
  assert.ok(
    warnings.some((w) =>
      w.startsWith(
        'Deployment shop/web: cannot check for an HPA that also scales it (list horizontalpodautoscalers: 403 Forbidden',
      ),
    ),
    `warned: ${warnings.join(' | ')}`,
  );
});
