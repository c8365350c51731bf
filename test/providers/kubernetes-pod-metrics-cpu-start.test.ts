// The HPA leaves a new pod's CPU out (unready: 0 on a scale-up) while the pod is within the CPU
// initialization period (5 min) of its start and either not Ready or sampled before one metrics
// window had passed since it became Ready: its start-up CPU (JIT, caches) is no load
// (groupPods in pkg/controller/podautoscaler/replica_calculator.go). Scaleplane counted every Ready
// pod's sample, so a new pod's start-up spike scaled the group out again. The fake API server
// serves pods and PodMetrics; the provider reads them with the official client over real HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podUsageReading } from '../../src/metrics/pod-usage.js';
import type { KubernetesProvider, PodUsage } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { podMetricsProvider, podMetricsServer, startOnKube } from './kube-app.js';
import type { KubeServer } from './kube-server.js';

const cpu50 = { type: 'cpu', target: 50 } as const;
const REQUESTS = { requests: { cpu: '200m', memory: '64Mi' } };

/**
 * newPodBeside has `server` hold 2 pods running for 10 min at 90m of 200m (45 %: within the 10 %
 * tolerance of a 50 % target), then adds a third started now, at 400m (its start-up): resolves
 * with the new pod's name once `ready` says it is Ready.
 */
async function newPodBeside(
  server: KubeServer,
  scale: (n: number) => Promise<void>,
  ready: (name: string) => boolean,
): Promise<string> {
  const old = new Set(server.pods.keys());
  server.podUsage = (pod) => ({ cpu: old.has(pod.metadata.name) ? '90m' : '400m', memory: '32Mi' });
  server.podAgeMs = 0;
  await scale(3);
  let name = '';
  await until(
    () => {
      name = [...server.pods.keys()].find((n) => !old.has(n)) ?? '';
      return name !== '' && ready(name);
    },
    10_000,
    'the new pod Ready',
  );
  return name;
}

async function read(p: KubernetesProvider): Promise<Map<string, PodUsage>> {
  return new Map((await p.readPodUsage()).map((u) => [u.id, u]));
}

describe('kubernetes PodMetrics: the HPA’s CPU initialization period', () => {
  it('a pod Ready just now, sampled less than a window after, is unready: left out of cpu', async (t) => {
    const server = await podMetricsServer(t, 2, REQUESTS);
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().filter((i) => i.state === 'ready').length === 2, 10_000, '2 ready pods');
    const fresh = await newPodBeside(
      server,
      (n) => p.scaleTo(n),
      (name) => p.instances().some((i) => i.id === name && i.state === 'ready'),
    );
    const reading = podUsageReading(p.instances(), await read(p), cpu50, Date.now());
    assert.equal(reading.unready, 1, `${fresh} unready: ${JSON.stringify(reading)}`);
    assert.deepEqual(reading.values, [45, 45], `the two running pods at 45 %: ${JSON.stringify(reading)}`);
  });

  it('sampled a whole window after it became Ready, its CPU counts (the boundary, both sides)', async (t) => {
    const server = await podMetricsServer(t, 2, REQUESTS);
    const p = await podMetricsProvider(t, server);
    await until(() => p.instances().filter((i) => i.state === 'ready').length === 2, 10_000, '2 ready pods');
    const fresh = await newPodBeside(
      server,
      (n) => p.scaleTo(n),
      (name) => p.instances().some((i) => i.id === name && i.state === 'ready'),
    );
    const readyAt = Date.parse(
      server.pods.get(fresh)!.status.conditions.find((c: { type: string }) => c.type === 'Ready')
        .lastTransitionTime,
    );
    for (const [offset, unready] of [
      [-1, 1],
      [0, 0],
    ] as const) {
      // metrics-server's sample of the new pod taken one 15-s window after it became Ready, ± 1 ms.
      server.podMetricsTime = (pod, now) => ({
        timestamp: pod.metadata.name === fresh ? readyAt + 15_000 + offset : now,
        window: '15s',
      });
      const reading = podUsageReading(p.instances(), await read(p), cpu50, Date.now());
      assert.equal(
        reading.unready,
        unready,
        `sampled at Ready + 15 s ${offset} ms: ${JSON.stringify(reading)}`,
      );
    }
  });

  it('whole Scaleplane, cpu target 50: a new pod’s start-up spike (400m of 200m) does not scale 3 → 6', async (t) => {
    // Counted, it reads (90 + 90 + 400) / 600 = 97 %: ceil(3 × 97 / 50) = 6.
    const server = await podMetricsServer(t, 2, REQUESTS);
    server.podUsage = () => ({ cpu: '90m', memory: '32Mi' });
    const app = await startOnKube(t, server, 'cpu: { target: 50 }', { min: 2, max: 6 });
    const gauge = async () => (await app.metrics.groupCpu.get()).values[0]?.value;
    await until(async () => (await gauge()) === 45, 15_000, 'the group’s cpu read at 45 %');
    const provider = app.providers.get('web')!;
    const lists = () => server.requests.filter((r) => r.path.startsWith('/apis/metrics.k8s.io/')).length;
    let servedAt = Number.POSITIVE_INFINITY;
    const fresh = await newPodBeside(
      server,
      (n) => provider.scaleTo(n),
      (name) => {
        const ok = provider.instances().some((i) => i.id === name && i.state === 'ready');
        if (ok && servedAt === Number.POSITIVE_INFINITY) servedAt = lists();
        return ok;
      },
    );
    // metrics-server's sample of the new pod taken 1 s after it became Ready (the others' now):
    // within one window of Ready, so unready on every read below, however long the reads take.
    const readyAt = Date.parse(
      server.pods.get(fresh)!.status.conditions.find((c: { type: string }) => c.type === 'Ready')
        .lastTransitionTime,
    );
    server.podMetricsTime = (pod, now) => ({
      timestamp: pod.metadata.name === fresh ? readyAt + 1000 : now,
      window: '15s',
    });
    // Two more reads of PodMetrics after the new pod was Ready: decisions in between read it.
    await until(() => lists() >= servedAt + 2, 45_000, 'two more reads of PodMetrics');
    // The 2 → 3 above is journaled as set by another client; a scale-out from 3 is the policy's.
    const scaled = app.controller.journal
      .entries()
      .filter((e) => e.group === 'web' && e.before >= 3 && e.after > e.before);
    assert.deepEqual(
      scaled.map((e) => e.message),
      [],
      'no scale-out on the new pod’s start-up CPU (the HPA: the 2 ready pods at 45 %, the new one unready)',
    );
    assert.equal(provider.desired(), 3, 'held at 3');
    assert.equal(await gauge(), 45, 'the group’s cpu is the running pods’ 45 %');
  });
});
