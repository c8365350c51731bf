// A Kubernetes group in `mode: controller` scaled on `cpu` (or `memory`) read nothing: the CPU
// window sampled local processes only, so the metric was missing forever and the group never
// scaled on it, silently. Now its pods' CPU and memory come from the resource metrics API
// (metrics.k8s.io/v1beta1 PodMetrics, served by metrics-server), as the HPA reads them:
// utilization of requests. The fake API server serves PodMetrics as metrics-server does (nanocores,
// Ki); the provider reads them with the official client over real HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextEntry } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';
import { podMetricsProvider, podMetricsServer, startOnKube } from './kube-app.js';

const MIB = 1024 * 1024;

describe('kubernetes: pods’ CPU and memory from metrics.k8s.io', () => {
  it('reads each pod’s usage (nanocores, Ki) beside its requests; a pod without metrics has no usage', async (t) => {
    const server = await podMetricsServer(t, 2, { requests: { cpu: '200m', memory: '128Mi' } });
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().filter((i) => i.state === 'ready').length === 2, 10_000, '2 ready pods');
    const [first, second] = p.instances();
    server.podUsage = (pod) =>
      pod.metadata.name === first!.id ? { cpu: '150000000n', memory: '65536Ki' } : undefined;
    const usages = await p.readPodUsage();
    const requests = { cpu: 0.2, memory: 128 * MIB };
    assert.deepEqual(
      [...usages]
        .sort((a, b) => (a.id === first!.id ? -1 : b.id === first!.id ? 1 : 0))
        .map(({ id, cpu, memory, requests }) => ({
          id,
          ...(cpu !== undefined && { cpu }),
          ...(memory !== undefined && { memory }),
          requests,
        })),
      [
        { id: first!.id, cpu: 0.15, memory: 64 * MIB, requests },
        { id: second!.id, requests },
      ],
      `one pod scraped, ${second!.id} not yet (no usage, its requests)`,
    );
    const list = server.requests.find((r) => r.path === '/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods');
    assert.equal(list?.query.labelSelector, 'app=web', 'listed by the workload’s selector');
  });

  it('a pod without a cpu request names the container, as the HPA does', async (t) => {
    const server = await podMetricsServer(t, 1, { requests: { memory: '64Mi' } });
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().some((i) => i.state === 'ready'), 10_000, 'a ready pod');
    server.podUsage = () => ({ cpu: '100m', memory: '32Mi' });
    const [usage] = await p.readPodUsage();
    assert.match(usage?.missingRequest?.cpu ?? '', /^missing request for cpu in container app of Pod web-/);
    assert.equal(usage?.requests.cpu, undefined, 'no request summed');
  });

  it('no metrics-server (404) rejects naming what to install', async (t) => {
    const server = await podMetricsServer(t, 1);
    server.metricsApi = 'missing';
    const p = await podMetricsProvider(t, server);
    await assert.rejects(
      p.readPodUsage(),
      /metrics\.k8s\.io\/v1beta1 is not served \(404\): install metrics-server/,
    );
  });
});

describe('kubernetes mode controller: scaling on cpu from PodMetrics', () => {
  it('cpu target 50: pods at 90 % of their 200m requests scale out as the HPA would (2 → 4)', async (t) => {
    const server = await podMetricsServer(t, 2, { requests: { cpu: '200m', memory: '64Mi' } });
    // 180m of 200m requested: 90 %; the HPA wants ceil(2 × 90 / 50) = 4.
    server.podUsage = () => ({ cpu: '180000000n', memory: '40000Ki' });
    const app = await startOnKube(t, server, 'cpu: { target: 50 }');
    const entry = await nextEntry(app, (e) => e.group === 'web' && e.after > e.before, 15_000);
    assert.deepEqual([entry.before, entry.after], [2, 4], `scaled out on cpu: ${entry.message}`);
    const cpu = await app.metrics.groupCpu.get();
    assert.equal(Math.round(cpu.values[0]?.value ?? 0), 90, 'scaleplane_group_cpu_percent is 90');
  });

  it('memory average_value on a kubernetes group is read from PodMetrics too', async (t) => {
    const server = await podMetricsServer(t, 2, { requests: { cpu: '200m', memory: '64Mi' } });
    server.podUsage = () => ({ cpu: '10m', memory: '96Mi' });
    // 96 MiB per pod against 32 MiB each: 3 × 2 = 6.
    const app = await startOnKube(t, server, 'memory: { average_value: 32Mi }');
    const entry = await nextEntry(app, (e) => e.group === 'web' && e.after > e.before, 15_000);
    assert.deepEqual([entry.before, entry.after], [2, 6], `scaled out on memory: ${entry.message}`);
  });

  it('no metrics-server: reported once as an alert naming metrics-server, read as missing (no scale-in), never 0', async (t) => {
    const server = await podMetricsServer(t, 3, { requests: { cpu: '200m' } });
    server.metricsApi = 'missing';
    const app = await startOnKube(t, server, 'cpu: { target: 50 }');
    await until(
      () => app.alerts.active().some((a) => a.group === 'web' && /metrics-server/.test(a.summary)),
      10_000,
      'an alert naming metrics-server',
    );
    const alerts = app.alerts.active().filter((a) => a.group === 'web');
    assert.equal(alerts.length, 1, `one alert: ${alerts.map((a) => a.summary).join(' | ')}`);
    // Read as 0 the policy would scale 3 → 2 (min); missing, it holds.
    const reads = () => server.requests.filter((r) => r.path.startsWith('/apis/metrics.k8s.io/')).length;
    const before = reads();
    // Retried at 1, 2, 4 s… after a failure (kubernetes-pod-metrics-poll.test.ts).
    await until(() => reads() >= before + 3, 30_000, 'three more reads of PodMetrics');
    assert.equal(app.providers.get('web')!.desired(), 3, 'held at 3: the missing metric is no 0');
    const [reading] = app.controller.journal
      .entries()
      .filter((e) => e.group === 'web')
      .slice(-1);
    assert.ok(reading === undefined || reading.after >= reading.before, `no scale-in: ${reading?.message}`);
  });
});
