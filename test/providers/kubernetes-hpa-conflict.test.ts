// An HPA of someone else's that targets the same workload: two autoscalers writing one
// `spec.replicas` undo each other's scale every sync. Start refuses it, naming the HPA. Against
// KubeServer (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesProviderConfig } from '../../src/config/types.js';
import { type KubernetesProvider, ProviderError } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { type KubeServer, kubeConfig, webOnKube } from './kube-server.js';

async function setup(
  t: TestContext,
  config: Partial<KubernetesProviderConfig> = {},
): Promise<{ server: KubeServer; provider: KubernetesProvider; warnings: string[]; errors: string[] }> {
  const warnings: string[] = [];
  const errors: string[] = [];
  const { server, provider } = await webOnKube(t, 2, {
    config,
    options: {
      logger: { info() {}, warn: (_f, msg) => warnings.push(msg), error: (_f, msg) => errors.push(msg) },
    },
  });
  return { server, provider, warnings, errors };
}

/** scaleElsewhere is what an HPA's sync does: set the replicas through the scale subresource. */
async function scaleElsewhere(server: KubeServer, replicas: number): Promise<void> {
  const apps = kubeConfig(server.url, 'hpa-controller').makeApiClient(k8s.AppsV1Api);
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: 'shop', body: { spec: { replicas } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
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

it('an HPA created after the start: the first replicas it sets name it as an error, once', async (t) => {
  // Before, each of its syncs only warned "set by another client" and the two undid each other's
  // scale with nothing naming the HPA.
  const { server, provider, warnings, errors } = await setup(t);
  await provider.start();
  server.hpas.set('shop/web-chart', hpa('web-chart', { kind: 'Deployment', name: 'web' }));
  await scaleElsewhere(server, 4);
  await until(() => errors.length > 0, 5000, 'an error naming the HPA');
  assert.deepEqual(errors, [
    "Deployment shop/web: HorizontalPodAutoscaler shop/web-chart also scales it: it and Scaleplane would overwrite each other's replicas; delete that HPA, or set groups.web.mode: hpa to have Kubernetes scale (it was created after Scaleplane started)",
  ]);
  assert.ok(
    warnings.includes(
      'Deployment shop/web: replicas is 4, set by another client (it was 2); desired is 4 now',
    ),
    `still warned of the change: ${warnings.join(' | ')}`,
  );
  // The fight goes on (Scaleplane scales back, the HPA again): listed at most once a minute, named once.
  await provider.scaleTo(2);
  await scaleElsewhere(server, 5);
  await until(() => provider.desired() === 5, 5000, 'desired() follows the HPA again');
  const lists = server.requests.filter(
    (r) => r.method === 'GET' && r.path.endsWith('/horizontalpodautoscalers'),
  );
  assert.equal(lists.length, 2, 'one list at start, one after the first outside change');
  assert.equal(errors.length, 1, `named once: ${errors.join(' | ')}`);
});
