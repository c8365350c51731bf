// A whole Scaleplane whose one group is the Deployment shop/web of a fake API server (kube-server.ts),
// for tests of what the controller does with what the provider reads.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { KubernetesProvider } from '../../src/providers/index.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from './kube-server.js';

const silent = { info() {}, warn() {}, error() {} };

/** RUNNING_FOR is how long the pods podMetricsServer creates seem to run: past the HPA's 5-min CPU initialization. */
export const RUNNING_FOR = 10 * 60_000;

/**
 * podMetricsServer starts a KubeServer (pods Ready 20 ms after creation) with shop/web at
 * `replicas`, whose app container has `resources` and whose template has `podSpec` besides
 * (`initContainers`, pod-level `resources`); closed after the test. Its pods seem started and
 * Ready RUNNING_FOR ago (a workload running for a while); set `podAgeMs = 0` for new ones.
 */
export async function podMetricsServer(
  t: TestContext,
  replicas: number,
  resources?: object,
  podSpec?: object,
): Promise<KubeServer> {
  const server = new KubeServer({ podReadyMs: 20 });
  await server.start();
  t.after(() => server.close());
  server.podAgeMs = RUNNING_FOR;
  server.addWorkload('Deployment', 'shop', 'web', replicas, resources, podSpec);
  return server;
}

/** podMetricsProvider starts a provider for shop/web on `server` (silent), closed after the test. */
export async function podMetricsProvider(t: TestContext, server: KubeServer): Promise<KubernetesProvider> {
  const p = new KubernetesProvider({
    group: 'web',
    config: WEB_DEPLOYMENT,
    minInstances: 1,
    maxInstances: 5,
    client: { kubeConfig: kubeConfig(server.url) },
    rewatchDelay: 50,
    timeout: 15_000,
    logger: silent,
  });
  t.after(() => p.close());
  await p.start();
  return p;
}

/**
 * startOnKube runs a whole Scaleplane (controller interval 200 ms) with the kubernetes group web
 * (a worker: no traffic to the pods) on `server`, min 2 / max 6, scaled on the one metric `metric`
 * (YAML of one `scaling.metrics` item, e.g. `cpu: { target: 50 }`); closed after the test.
 */
export async function startOnKube(
  t: TestContext,
  server: KubeServer,
  metric: string,
  bounds: { min?: number; max?: number } = {},
): Promise<Scaleplane> {
  const dir = await mkdtemp(join(tmpdir(), 'scaleplane-kube-app-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: server.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'scaleplane' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'u', namespace: 'shop' } }],
      'current-context': 'fake',
    }),
  );
  const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
controller: { interval: 200ms }
groups:
  web:
    provider: kubernetes
    role: worker
    namespace: shop
    name: web
    port: 8080
    kubeconfig: ${kubeconfig}
    min_instances: ${bounds.min ?? 2}
    max_instances: ${bounds.max ?? 6}
    scaling:
      metrics:
        - ${metric}
`);
  t.after(() => app.close());
  return app;
}
