// Which containers a pod's CPU and memory requests come from, as the HPA's calculateRequests
// (pkg/controller/podautoscaler/replica_calculator.go) takes them. metrics-server measures every
// container that runs, sidecars (init containers with `restartPolicy: Always`) included, and the
// HPA sums their usage (metrics/client.go getPodMetrics) against the app containers' and the
// sidecars' requests. Scaleplane summed the app containers' requests only: a pod with a sidecar read
// its sidecar's usage against no request of it (utilization too high: extra scale-ups), and a
// sidecar without a request was not reported. Pod-level requests (`spec.resources`, KEP-2837) were
// ignored: such a pod read as missing its container requests. Official client over real HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podUsages } from '../../src/providers/kubernetes/pod-metrics.js';
import { nextEntry } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';
import { podMetricsProvider, podMetricsServer, startOnKube } from './kube-app.js';
import type { KubeServer } from './kube-server.js';

/** A sidecar (restartable init container) and a plain init container without requests, which ended. */
function withSidecar(sidecarResources?: object): object {
  return {
    initContainers: [
      { name: 'migrate', image: 'example/migrate:1' },
      {
        name: 'proxy',
        image: 'example/proxy:1',
        restartPolicy: 'Always',
        ...(sidecarResources && { resources: sidecarResources }),
      },
    ],
  };
}

/** usage: the app at `app`, the sidecar at `proxy` (cpu), 32Mi each. */
function usage(server: KubeServer, app: string, proxy: string): void {
  server.podUsage = (_pod, container) => ({ cpu: container === 'proxy' ? proxy : app, memory: '32Mi' });
}

describe('kubernetes PodMetrics: requests of sidecars, pod-level requests', () => {
  it('a sidecar’s request is summed with the app’s (the usage is); a plain init container counts in neither', async (t) => {
    const server = await podMetricsServer(
      t,
      1,
      { requests: { cpu: '200m', memory: '64Mi' } },
      withSidecar({ requests: { cpu: '100m', memory: '32Mi' } }),
    );
    usage(server, '150m', '60m');
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().some((i) => i.state === 'ready'), 10_000, 'a ready pod');
    const [u] = await p.readPodUsage();
    assert.equal(u?.cpu, 0.21, `usage of app and sidecar: ${JSON.stringify(u)}`);
    assert.equal(u?.requests.cpu, 0.3, `requests of app 200m + sidecar 100m: ${JSON.stringify(u)}`);
    assert.equal(u?.requests.memory, 96 * 1024 * 1024, `memory requests 64Mi + 32Mi: ${JSON.stringify(u)}`);
    assert.equal(u?.missingRequest, undefined, `the init container’s missing request is no matter`);
  });

  it('a sidecar without a cpu request is missing, named as the HPA names it', async (t) => {
    const server = await podMetricsServer(t, 1, { requests: { cpu: '200m', memory: '64Mi' } }, withSidecar());
    usage(server, '150m', '60m');
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().some((i) => i.state === 'ready'), 10_000, 'a ready pod');
    const [u] = await p.readPodUsage();
    assert.match(
      u?.missingRequest?.cpu ?? `none: ${JSON.stringify(u)}`,
      /^missing request for cpu in container proxy of Pod web-/,
    );
  });

  it('pod-level requests (spec.resources) are the pod’s, plus its overhead; none in the containers needed', async (t) => {
    const server = await podMetricsServer(t, 1, undefined, {
      resources: { requests: { cpu: '500m', memory: '256Mi' } },
      overhead: { cpu: '100m' },
    });
    usage(server, '300m', '0');
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().some((i) => i.state === 'ready'), 10_000, 'a ready pod');
    const [u] = await p.readPodUsage();
    assert.equal(u?.requests.cpu, 0.6, `pod-level 500m + overhead 100m: ${JSON.stringify(u)}`);
    assert.equal(u?.requests.memory, 256 * 1024 * 1024, `pod-level 256Mi: ${JSON.stringify(u)}`);
    assert.equal(u?.missingRequest, undefined, `nothing missing: ${JSON.stringify(u)}`);
  });

  it('a PodMetrics without containers is no measurement (missing), never 0', () => {
    const pod = { metadata: { name: 'web-1' }, spec: { containers: [{ name: 'app' }] } };
    const [u] = podUsages([pod], [{ metadata: { name: 'web-1' }, containers: [] }]);
    assert.deepEqual([u?.cpu, u?.memory], [undefined, undefined], `no usage read: ${JSON.stringify(u)}`);
  });

  it('whole Scaleplane, cpu target 50: app 150m of 200m + sidecar 60m of 100m is 70 % (2 → 3, not 2 → 5)', async (t) => {
    const server = await podMetricsServer(
      t,
      2,
      { requests: { cpu: '200m', memory: '64Mi' } },
      withSidecar({ requests: { cpu: '100m', memory: '32Mi' } }),
    );
    // The HPA: (210m × 2) / (300m × 2) = 70 %, ceil(2 × 70 / 50) = 3. Against the app's 200m alone
    // it read 105 %: ceil(2 × 105 / 50) = 5.
    usage(server, '150m', '60m');
    const app = await startOnKube(t, server, 'cpu: { target: 50 }');
    const entry = await nextEntry(app, (e) => e.group === 'web' && e.after > e.before, 15_000);
    assert.deepEqual([entry.before, entry.after], [2, 3], `scaled out on cpu: ${entry.message}`);
  });
});
