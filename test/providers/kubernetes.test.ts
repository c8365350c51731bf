// The kubernetes provider through the official client (@kubernetes/client-node) over real HTTP,
// against KubeServer: a local server speaking the Kubernetes JSON API (see kube-server.ts). No
// cluster runs on these machines; request shapes are checked against the API reference here.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { Pool } from '../../src/balancer/pool.js';
import type { KubernetesProviderConfig } from '../../src/config/types.js';
import {
  KubernetesProvider,
  type KubernetesProviderOptions,
  ProviderError,
  podInstance,
  quantityCpu,
  quantityMemory,
} from '../../src/providers/index.js';
import {
  apiErrorText,
  DEPLOYMENT_ROLL_ANNOTATION,
  kubeConfigSource,
  loadKubeConfig,
  ROLL_ANNOTATION,
  rewatchBackoff,
  watchFailure,
} from '../../src/providers/kubernetes/index.js';
import { TIMER_SLACK_MS, until } from '../helpers/until.js';
import { providerConformance } from './conformance.js';
import { REPLACE_AFTER, watchHealth } from './health-watch.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from './kube-server.js';
import { stsProvider } from './sts-fixture.js';

async function setup(
  t: TestContext,
  config: Partial<KubernetesProviderConfig> = {},
  replicas = 0,
  extra: Partial<KubernetesProviderOptions> = {},
): Promise<{ server: KubeServer; provider: KubernetesProvider }> {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  const kind = config.kind ?? 'Deployment';
  server.addWorkload(kind, 'shop', 'web', replicas);
  const provider = new KubernetesProvider({
    group: 'web',
    config: { ...WEB_DEPLOYMENT, kind, ...config },
    minInstances: 1,
    maxInstances: 5,
    cpuTarget: 70,
    client: { kubeConfig: kubeConfig(server.url) },
    rolloutPoll: 50,
    rewatchDelay: 50,
    // A wait that cannot finish fails in seconds, naming itself, instead of after 10 minutes.
    timeout: 15_000,
    ...extra,
  });
  t.after(() => provider.close());
  return { server, provider };
}

providerConformance('kubernetes (Deployment)', async (t) => {
  const { provider } = await setup(t);
  return { provider, resizeTo: { cpu: 0.5, memory: 256 * 1024 * 1024 } };
});

providerConformance('kubernetes (StatefulSet)', async (t) => {
  const { provider } = await setup(t, { kind: 'StatefulSet' });
  return { provider, resizeTo: { cpu: 0.25, memory: 128 * 1024 * 1024 } };
});

describe('kubernetes provider: waits', () => {
  it('scaleTo fails with API_ERROR after the timeout when the pods never become Ready, naming the workload and the pods', async (t) => {
    const timeout = 1500;
    const { server, provider } = await setup(t, {}, 1, { timeout });
    await provider.start();
    await until(() => provider.instances()[0]?.state === 'ready', 5000, 'the first pod Ready');
    server.podsBecomeReady = false;
    const started = Date.now();
    await assert.rejects(provider.scaleTo(3), (err: unknown) => {
      assert.ok(err instanceof ProviderError, 'err instanceof ProviderError');
      assert.equal(err.code, 'API_ERROR');
      assert.equal(
        err.message,
        'Deployment shop/web: scale to 3 not done within 1.5 s (1 of 3 pods Ready, 2 not Ready, 0 terminating)',
      );
      return true;
    });
    const waited = Date.now() - started;
    t.diagnostic(`failed after ${waited} ms (timeout ${timeout} ms)`);
    assert.ok(waited >= timeout - TIMER_SLACK_MS, `failed after ${waited} ms, before the timeout`);
    // The failed wait is gone: a later scale settles on its own target and resolves.
    server.podsBecomeReady = true;
    await provider.scaleTo(1);
    assert.deepEqual(
      provider.instances().map((i) => i.state),
      ['ready'],
    );
  });

  it('a scale whose pods a ResourceQuota refuses fails after the timeout saying how many were not created, and why', async (t) => {
    const { server, provider } = await setup(t, {}, 2, { timeout: 1000 });
    await provider.start();
    await until(() => provider.instances().filter((i) => i.state === 'ready').length === 2, 5000, '2 Ready');
    server.podQuota = 2;
    // Before: "(2 of 4 pods Ready, 0 not Ready, 0 terminating)", nothing on the two missing pods.
    await assert.rejects(provider.scaleTo(4), {
      name: 'ProviderError',
      code: 'API_ERROR',
      message:
        /^Deployment shop\/web: scale to 4 not done within 1 s \(2 of 4 pods Ready, 0 not Ready, 0 terminating, 2 not created: ReplicaFailure FailedCreate: pods "web-\w+-" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2\)$/,
    });
  });
});

describe('kubernetes provider: a StatefulSet resize whose extra pod is never Ready', () => {
  const MIB = 1024 * 1024;
  /** The container's resources before the failing resize: those of an earlier resize to 0.5 CPU. */
  const BEFORE = { limits: { cpu: '500m' }, requests: { cpu: '500m' } };

  /**
   * sized is shop/web, a StatefulSet of 2 Ready pods at BEFORE, with the user's partition at 1;
   * `uids` gives each live pod's uid by name (a pod recreated gets a new one).
   */
  async function sized(t: TestContext) {
    const { server, provider } = await setup(t, { kind: 'StatefulSet' }, 2, { timeout: 1500 });
    await provider.start();
    await provider.resize({ cpu: 0.5 });
    const sts = server.workloads.get('shop/web')!.object;
    assert.deepEqual(sts.spec.template.spec.containers[0].resources, BEFORE);
    sts.spec.updateStrategy.rollingUpdate.partition = 1;
    const uids = () =>
      Object.fromEntries(
        [...server.pods.values()]
          .filter((p) => !p.metadata.deletionTimestamp)
          .map((p) => [p.metadata.name, p.metadata.uid])
          .sort(),
      );
    return { server, provider, sts, uids };
  }

  /**
   * reverted says the StatefulSet is as before the resize: its template's resources BEFORE, at the
   * revision its pods run (nothing left to roll), partition 1, no annotation, 2 replicas, the pods
   * `uids` had (none recreated) and no other.
   */
  function reverted(server: KubeServer, now: Record<string, string>, uids: Record<string, string>) {
    const sts = server.workloads.get('shop/web')!.object;
    assert.deepEqual(sts.spec.template.spec.containers[0].resources, BEFORE);
    assert.equal(sts.status.updateRevision, sts.status.currentRevision, 'the template is a new revision');
    assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 1);
    assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined);
    assert.equal(sts.spec.replicas, 2);
    assert.deepEqual(now, uids, 'a pod was recreated');
  }

  it('fails the resize and writes the previous resources back while the partition holds every pod; then the replica and the partition', async (t) => {
    const { server, provider, uids } = await sized(t);
    const before = uids();
    assert.deepEqual(Object.keys(before), ['web-0', 'web-1']);
    server.podsBecomeReady = false;
    const from = server.requests.length;
    // Before: the resize failed as here, but left the new resources in the template behind the user's
    // partition 1, and Kubernetes rolled web-1 onto them by itself.
    const err = await provider.resize({ cpu: 0.25, memory: 128 * MIB }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(
      () => server.pods.size === 2 && provider.instances().length === 2,
      10_000,
      'the extra pod gone',
    );
    reverted(server, uids(), before);
    assert.deepEqual(provider.size(), { cpu: 0.5 });
    // Reported as a failed resize, as before, saying what was undone.
    assert.ok(err instanceof ProviderError, `the resize did not fail: ${String(err)}`);
    assert.equal(err.code, 'RESIZE_FAILED');
    assert.match(err.message, /not Ready within the timeout; resize reverted/);
    assert.ok(err.cause instanceof ProviderError, 'err.cause instanceof ProviderError');
    const patches = server.requests
      .slice(from)
      .filter((r) => r.path.endsWith('/statefulsets/web') && r.method === 'PATCH')
      .map((r) => r.body);
    assert.equal(
      (patches[0] as { metadata: { annotations: Record<string, string> } }).metadata.annotations[
        ROLL_ANNOTATION
      ],
      JSON.stringify({
        partition: 1,
        replicas: 2,
        previous: { app: BEFORE },
        written: { cpu: '250m', memory: '128Mi' },
      }),
    );
    // The revert: cpu as it was, memory (not set before) removed, the partition still at the replicas;
    // at the resourceVersion read (see kubernetes-sts-roll-conflict.test.ts).
    const revertAt = (patches[1] as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion;
    assert.equal(typeof revertAt, 'string', 'the revert has a precondition');
    assert.deepEqual(patches[1], {
      metadata: { resourceVersion: revertAt },
      spec: {
        updateStrategy: { rollingUpdate: { partition: 2 } },
        template: {
          spec: {
            containers: [
              {
                name: 'app',
                resources: {
                  limits: { cpu: '500m', memory: null },
                  requests: { cpu: '500m', memory: null },
                },
              },
            ],
          },
        },
      },
    });
    assert.equal(patches.length, 3);
  });

  it('a container that had no resources gets none back (its pods at the same revision, none recreated)', async (t) => {
    const { server, provider } = await setup(t, { kind: 'StatefulSet' }, 2, { timeout: 1500 });
    await provider.start();
    await until(() => provider.instances().filter((i) => i.state === 'ready').length === 2, 5000, '2 Ready');
    const sts = server.workloads.get('shop/web')!.object;
    const uids = () => [...server.pods.values()].map((p) => `${p.metadata.name} ${p.metadata.uid}`).sort();
    const before = uids();
    server.podsBecomeReady = false;
    await assert.rejects(provider.resize({ memory: 64 * MIB }), { code: 'RESIZE_FAILED' });
    await until(() => server.pods.size === 2, 10_000, 'the extra pod gone');
    // The API server stores `resources: {}` for "none": the same template, so the same revision.
    assert.deepEqual(sts.spec.template.spec.containers[0].resources, {});
    assert.equal(sts.status.updateRevision, sts.status.currentRevision, 'the template is a new revision');
    assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0);
    assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined);
    assert.deepEqual(uids(), before, 'a pod was recreated');
    assert.equal(provider.size(), undefined);
  });

  it('a successor that finds the roll half-done and whose extra pod is never Ready reverts the same way and reports it', async (t) => {
    const { server, provider, sts, uids } = await sized(t);
    const before = uids();
    server.podsBecomeReady = false;
    // The resizing controller is gone once the template is stored behind the partition.
    const first = provider.resize(
      { cpu: 0.25 },
      { onSizeSaved: (write) => void write.then(() => provider.close()) },
    );
    await assert.rejects(first, { code: 'CLOSED' });
    assert.equal(JSON.parse(sts.metadata.annotations?.[ROLL_ANNOTATION]).partition, 1);
    const successor = stsProvider(server, { timeout: 1500 });
    t.after(() => successor.close());
    const reported = once(successor, 'error');
    await successor.start();
    const [err] = (await reported) as [ProviderError];
    await until(
      () => sts.metadata.annotations?.[ROLL_ANNOTATION] === undefined && server.pods.size === 2,
      10_000,
      'the roll given up, the extra pod gone',
    );
    reverted(server, uids(), before);
    assert.equal(err.code, 'RESIZE_FAILED');
    assert.match(err.message, /resize reverted/);
  });
});

describe('kubernetes provider: request shapes', () => {
  it('scales through the scale subresource with a merge patch and reads Ready pods at podIP:port', async (t) => {
    const { server, provider } = await setup(t, {}, 1);
    await provider.start();
    assert.equal(provider.desired(), 1);
    await provider.scaleTo(3);
    const at = server.requests.findIndex((r) => r.method === 'PATCH' && r.path.endsWith('/scale'));
    const patch = server.requests[at];
    // Read first; written at the resourceVersion read (409 Conflict if the object changed since).
    const read = server.requests[at - 1];
    assert.equal(`${read?.method} ${read?.path}`, 'GET /apis/apps/v1/namespaces/shop/deployments/web/scale');
    const rv = (patch?.body as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata
      ?.resourceVersion;
    assert.match(String(rv), /^\d+$/, 'the PATCH carries the resourceVersion read');
    assert.deepEqual(patch, {
      method: 'PATCH',
      path: '/apis/apps/v1/namespaces/shop/deployments/web/scale',
      query: {},
      contentType: 'application/merge-patch+json',
      body: { metadata: { resourceVersion: rv }, spec: { replicas: 3 } },
      token: 'test-token',
    });
    const list = server.requests.find(
      (r) => r.path === '/api/v1/namespaces/shop/pods' && r.query.watch !== 'true',
    );
    assert.equal(list?.query.labelSelector, 'app=web');
    const watch = server.requests.find((r) => r.query.watch === 'true');
    assert.equal(watch?.path, '/api/v1/namespaces/shop/pods');
    assert.equal(watch?.query.labelSelector, 'app=web');
    assert.match(watch?.query.resourceVersion ?? '', /^\d+$/);
    const instances = provider.instances();
    assert.equal(instances.length, 3);
    for (const i of instances) assert.match(i.address, /^10\.244\.0\.\d+:8080$/);
  });

  it('resize patches container resources (strategic merge) with maxUnavailable 0 and waits for the rollout', async (t) => {
    const { server, provider } = await setup(t, {}, 2);
    await provider.start();
    await provider.scaleTo(2);
    server.readyHistory.length = 0;
    await provider.resize({ cpu: 0.5, memory: 256 * 1024 * 1024 });
    const patch = server.requests.find(
      (r) => r.method === 'PATCH' && r.path === '/apis/apps/v1/namespaces/shop/deployments/web',
    );
    assert.equal(patch?.contentType, 'application/strategic-merge-patch+json');
    assert.deepEqual(patch?.body, {
      // The resources in force and the user's strategy, both back once the roll ends.
      metadata: {
        annotations: {
          [DEPLOYMENT_ROLL_ANNOTATION]: JSON.stringify({
            container: 'app',
            previous: {},
            written: { cpu: '500m', memory: '256Mi' },
            rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
          }),
        },
      },
      spec: {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          spec: {
            containers: [
              {
                name: 'app',
                resources: {
                  limits: { cpu: '500m', memory: '256Mi' },
                  requests: { cpu: '500m', memory: '256Mi' },
                },
              },
            ],
          },
        },
      },
    });
    assert.ok(
      Math.min(...server.readyHistory) >= 2,
      `ready pods went down to ${Math.min(...server.readyHistory)}`,
    );
    assert.deepEqual(
      provider.instances().map((i) => i.size),
      [
        { cpu: 0.5, memory: 256 * 1024 * 1024 },
        { cpu: 0.5, memory: 256 * 1024 * 1024 },
      ],
    );
  });

  it('a Deployment resize whose new pod is never Ready fails and writes the previous resources back: Kubernetes removes the surge pod, none at the failed size is left', async (t) => {
    // Before, the failed resize left the new resources in the template: the surge pod stayed
    // not Ready for good (a memory limit the app exceeds, crash-looping), every later scale waited
    // on it until its timeout, and the next pods were created at the size that had failed.
    const { server, provider } = await setup(t, {}, 2, { timeout: 1500 });
    await provider.start();
    await provider.scaleTo(2);
    server.podsBecomeReady = false;
    const err = await provider.resize({ cpu: 0.25, memory: 32 * 1024 * 1024 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProviderError, `the resize did not fail: ${String(err)}`);
    assert.equal(err.code, 'RESIZE_FAILED');
    assert.match(err.message, /resize reverted/, 'the error says the resize was undone');
    const deployment = server.workloads.get('shop/web')!.object;
    const resources = deployment.spec.template.spec.containers[0].resources;
    assert.ok(
      !resources?.limits && !resources?.requests,
      `the template still holds the failed size: ${JSON.stringify(resources)}`,
    );
    await until(
      () => server.pods.size === 2 && [...server.pods.values()].every((p) => !p.metadata.deletionTimestamp),
      10_000,
      'the surge pod at the failed size removed, the 2 pods from before left',
    );
    assert.equal(provider.size(), undefined, 'the size in force is the one from before the resize');
  });

  it('a failed Deployment resize whose template another client changed is not reverted, and size() says what the template holds', async (t) => {
    // Before, the skipped revert left size() at the failed resize's size, which no pod gets: the
    // template holds the other client's resources, and Kubernetes rolls the pods to them.
    const { server, provider } = await setup(t, {}, 2, { timeout: 1500 });
    await provider.start();
    await provider.scaleTo(2);
    server.podsBecomeReady = false;
    const theirs = { limits: { cpu: '750m', memory: '64Mi' }, requests: { cpu: '750m', memory: '64Mi' } };
    const err = await provider
      .resize(
        { cpu: 0.25, memory: 32 * 1024 * 1024 },
        {
          // Once the resize's PATCH landed: another client (kubectl set resources) writes its own.
          onSizeSaved: (saved) =>
            void saved.then(() => {
              const deployment = server.workloads.get('shop/web')!.object;
              deployment.spec.template.spec.containers[0].resources = theirs;
            }),
        },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof ProviderError, `the resize did not fail: ${String(err)}`);
    assert.equal(err.code, 'RESIZE_FAILED');
    assert.doesNotMatch(err.message, /resize reverted/, 'nothing was reverted');
    const deployment = server.workloads.get('shop/web')!.object;
    assert.deepEqual(deployment.spec.template.spec.containers[0].resources, theirs, 'theirs stands');
    assert.deepEqual(
      provider.size(),
      { cpu: 0.75, memory: 64 * 1024 * 1024 },
      "size() is the template's (before: the failed resize's { cpu: 0.25, memory: 32 Mi })",
    );
  });

  it('a Deployment resize superseded by a later one ends RESIZE_SUPERSEDED, not RESIZE_FAILED at its timeout', async (t) => {
    // Before, the first call waited for pods at its own size, which the later resize had replaced,
    // until its timeout (10 min by default): then a ResizeFailed entry and a resize alert for a
    // group that was fine.
    const { server, provider } = await setup(t, {}, 2, { timeout: 4000 });
    await provider.start();
    await provider.scaleTo(2);
    const first = provider.resize({ cpu: 0.25 }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    await until(
      () => server.requests.some((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/web')),
      5000,
      "the first resize's PATCH",
    );
    await provider.resize({ cpu: 0.75 });
    const err = await first;
    assert.equal(err?.code, 'RESIZE_SUPERSEDED', `the first resize ended ${String(err)}`);
    assert.deepEqual(
      provider.instances().map((i) => i.size?.cpu),
      [0.75, 0.75],
      'the pods run the later size',
    );
  });

  it('a StatefulSet resize: template behind a partition first, then one extra replica, partition 0, scale back, partition restored', async (t) => {
    const { server, provider } = await setup(t, { kind: 'StatefulSet' }, 2);
    await provider.start();
    await provider.scaleTo(2);
    assert.deepEqual(
      provider
        .instances()
        .map((i) => i.id)
        .sort(),
      ['web-0', 'web-1'],
    );
    server.readyHistory.length = 0;
    const from = server.requests.length;
    const readBefore = server.workloads.get('shop/web')!.object.metadata.resourceVersion;
    await provider.resize({ cpu: 0.25 });
    const calls = server.requests
      .slice(from)
      .filter((r) => r.method === 'PATCH')
      .map((r) =>
        r.path.endsWith('/scale')
          ? `scale ${(r.body as { spec: { replicas: number } }).spec.replicas}`
          : `patch ${r.path.split('/').at(-1)}`,
      );
    assert.deepEqual(calls, ['patch web', 'scale 3', 'patch web', 'scale 2', 'patch web']);
    const patches = server.requests
      .slice(from)
      .filter((r) => r.path.endsWith('/statefulsets/web') && r.method === 'PATCH');
    assert.equal(patches[0]?.contentType, 'application/strategic-merge-patch+json');
    // First the template, behind a partition at the replicas (no pod recreated), the user's noted;
    // at the resourceVersion read (a precondition: see kubernetes-sts-resize-conflict.test.ts).
    assert.deepEqual(patches[0]?.body, {
      metadata: {
        annotations: {
          [ROLL_ANNOTATION]: '{"partition":0,"replicas":2,"previous":{"app":{}},"written":{"cpu":"250m"}}',
        },
        resourceVersion: readBefore,
      },
      spec: {
        updateStrategy: { rollingUpdate: { partition: 2 } },
        template: {
          spec: {
            containers: [{ name: 'app', resources: { limits: { cpu: '250m' }, requests: { cpu: '250m' } } }],
          },
        },
      },
    });
    // Partition 0 and, in the same write, the previous resources out of the annotation: from here on a
    // failure leaves the template to Kubernetes' roll. It and the partition's restoring are written at
    // the resourceVersion read too (see kubernetes-sts-roll-conflict.test.ts).
    const [lowerAt, restoreAt] = [patches[1], patches[2]].map(
      (p) => (p?.body as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion,
    );
    assert.equal(typeof lowerAt, 'string', 'the lowering has a precondition');
    assert.equal(typeof restoreAt, 'string', 'the restoring has a precondition');
    assert.deepEqual(patches[1]?.body, {
      metadata: {
        annotations: { [ROLL_ANNOTATION]: '{"partition":0,"replicas":2}' },
        resourceVersion: lowerAt,
      },
      spec: { updateStrategy: { rollingUpdate: { partition: 0 } } },
    });
    assert.deepEqual(patches[2]?.body, {
      metadata: { annotations: { [ROLL_ANNOTATION]: null }, resourceVersion: restoreAt },
      spec: { updateStrategy: { rollingUpdate: { partition: 0 } } },
    });
    const sts = server.workloads.get('shop/web')!.object;
    assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined);
    assert.deepEqual(sts.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
    assert.ok(
      Math.min(...server.readyHistory) >= 2,
      `ready pods went down to ${Math.min(...server.readyHistory)}`,
    );
    // The extra pod was the highest ordinal, and it is the one given back.
    assert.deepEqual(
      provider
        .instances()
        .map((i) => i.id)
        .sort(),
      ['web-0', 'web-1'],
    );
    assert.deepEqual(
      provider.instances().map((i) => i.size?.cpu),
      [0.25, 0.25],
    );
    assert.equal(provider.desired(), 2);
  });

  it('mode hpa writes an autoscaling/v2 HorizontalPodAutoscaler (create, then replace)', async (t) => {
    const { server, provider } = await setup(t, { mode: 'hpa' }, 1);
    await provider.start();
    assert.equal(provider.autoscaled, true);
    const create = server.requests.find((r) => r.method === 'POST');
    assert.equal(create?.path, '/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers');
    assert.deepEqual((create!.body as { spec: unknown }).spec, {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
    });
    const again = new KubernetesProvider({
      group: 'web',
      config: { ...WEB_DEPLOYMENT, mode: 'hpa' },
      minInstances: 2,
      maxInstances: 4,
      client: { kubeConfig: kubeConfig(server.url) },
    });
    t.after(() => again.close());
    await again.start();
    const put = server.requests.find((r) => r.method === 'PUT');
    assert.equal(put?.path, '/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web');
    assert.equal(server.hpas.get('shop/web')?.spec.maxReplicas, 4);
  });

  it('observe lists and watches with reads only (no HPA in hpa mode); start then writes it and keeps the watch', async (t) => {
    const { server, provider } = await setup(t, { mode: 'hpa' }, 2);
    await provider.observe();
    await provider.observe();
    await until(
      () => provider.instances().filter((i) => i.state === 'ready').length === 2,
      5000,
      '2 Ready pods',
    );
    assert.equal(provider.desired(), 2);
    assert.deepEqual(
      server.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`),
      [],
    );
    assert.equal(server.hpas.size, 0);
    const lists = () =>
      server.requests.filter((r) => r.path.endsWith('/pods') && r.query.watch !== 'true').length;
    assert.equal(lists(), 1, 'observed twice, listed once');
    await provider.start();
    assert.equal(server.hpas.size, 1, 'start writes the HPA');
    assert.equal(lists(), 1, 'on the watch observe started');
  });

  it('a watch that expires (410 Gone) is resumed by a fresh list', async (t) => {
    const { server, provider } = await setup(t, {}, 1);
    await provider.start();
    server.compact();
    await provider.scaleTo(2);
    assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 2);
  });

  it('mode hpa: a replace that meets 409 Conflict (the HPA controller wrote its status since the read) reads again and retries', async (t) => {
    const notes: string[] = [];
    const { server, provider } = await setup(t, { mode: 'hpa' }, 1, {
      logger: { info: (_f, msg) => notes.push(msg), warn() {}, error() {} },
    });
    server.hpas.set('shop/web', {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 2 },
    });
    server.hpaStatusWrites = 2;
    // Before, start failed with the first 409.
    await provider.start();
    assert.equal(server.requests.filter((r) => r.method === 'PUT').length, 3, 'two conflicts, then written');
    assert.equal(server.hpas.get('shop/web')?.spec.maxReplicas, 5);
    assert.equal(notes.filter((m) => m.includes('409 Conflict')).length, 2, notes.join('\n'));
  });

  it("403 Forbidden on the scale subresource: API_ERROR with the API server's reason on one line, nothing retried behind the caller's back", async (t) => {
    const { server, provider } = await setup(t, {}, 1);
    await provider.start();
    server.forbid = (method, path) => method === 'PATCH' && path.endsWith('/scale');
    await assert.rejects(provider.scaleTo(2), {
      name: 'ProviderError',
      code: 'API_ERROR',
      message:
        'Deployment shop/web: patch scale failed: 403 Forbidden: web/scale is forbidden: User "system:serviceaccount:shop:scaleplane" cannot patch it',
    });
    assert.equal(provider.desired(), 1, 'desired() unchanged: nothing was written');
  });

  it('an API server that accepts requests and never answers fails the call after requestTimeout, and the next one works', {
    timeout: 20_000,
  }, async (t) => {
    const { server, provider } = await setup(t, {}, 1, { requestTimeout: 300 });
    await provider.start();
    server.silent = true;
    const started = Date.now();
    // Before: no timeout anywhere, so this scale (and the controller's tick behind it) never ended.
    await assert.rejects(provider.scaleTo(2), {
      name: 'ProviderError',
      code: 'API_ERROR',
      message: /^Deployment shop\/web: .* failed: no answer within 0\.3 s \(request timeout\)$/,
    });
    const waited = Date.now() - started;
    t.diagnostic(`failed after ${waited} ms`);
    assert.ok(waited >= 300 - TIMER_SLACK_MS, `failed after ${waited} ms, before the timeout`);
    server.silent = false;
    await provider.scaleTo(2);
    assert.equal(
      (server.workloads.get('shop/web')!.object as { spec: { replicas: number } }).spec.replicas,
      2,
    );
  });

  it('an unknown workload fails start with API_ERROR', async (t) => {
    const { provider } = await setup(t, { name: 'nope' });
    await assert.rejects(provider.start(), { name: 'ProviderError', code: 'API_ERROR' });
  });
});

describe('kubernetes provider: kubeconfig problems are one line naming the setting', () => {
  /** A folder of kubeconfig files: `live` points at a running fake API server, `dead` at a closed port. */
  async function files(t: TestContext) {
    const server = new KubeServer();
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 1);
    const dir = mkdtempSync(join(tmpdir(), 'scaleplane-kubeconfig-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const contexts = `apiVersion: v1
kind: Config
clusters:
- name: live
  cluster: { server: "${server.url}", insecure-skip-tls-verify: true }
- name: dead
  cluster: { server: "http://127.0.0.1:9", insecure-skip-tls-verify: true }
users:
- name: scaleplane
  user: { token: test-token }
contexts:
- name: live
  context: { cluster: live, user: scaleplane }
- name: dead
  context: { cluster: dead, user: scaleplane }
`;
    return {
      dir,
      twoContexts: write('two.yaml', `${contexts}current-context: dead\n`),
      noCurrent: write('no-current.yaml', contexts),
      broken: write('broken.yaml', 'apiVersion: v1\nkind: Config\nclusters: [\n'),
    };
  }

  function provider(t: TestContext, config: Partial<KubernetesProviderConfig>) {
    const p = new KubernetesProvider({
      group: 'web',
      config: { ...WEB_DEPLOYMENT, ...config },
      minInstances: 1,
      maxInstances: 5,
      requestTimeout: 5000,
    });
    t.after(() => p.close());
    return p;
  }

  it('a kubeconfig file and a context of it reach the API server', async (t) => {
    const { twoContexts } = await files(t);
    const p = provider(t, { kubeconfig: twoContexts, context: 'live' });
    await p.start();
    assert.equal(p.desired(), 1);
  });

  it('a missing or broken file, an unknown context, no current-context: INVALID_ARGUMENT naming the setting', async (t) => {
    const { dir, twoContexts, noCurrent, broken } = await files(t);
    const cases: [Partial<KubernetesProviderConfig>, string][] = [
      // Before: a bare "ENOENT: no such file or directory, open '…'" (no setting named, no code).
      [
        { kubeconfig: join(dir, 'nope.yaml') },
        `groups.web.kubeconfig ${join(dir, 'nope.yaml')} cannot be read (ENOENT: no such file or directory)`,
      ],
      // Before: a YAMLException whose message spans five lines of the file.
      [
        { kubeconfig: broken },
        `groups.web.kubeconfig ${broken} is not a valid kubeconfig (unexpected end of the stream within a flow collection (4:1))`,
      ],
      // Before: "Deployment shop/web: the kubeconfig has no current cluster", for both.
      [
        { kubeconfig: twoContexts, context: 'prod' },
        `groups.web.context "prod" is not a context of ${twoContexts} (it has: live, dead)`,
      ],
      [
        { kubeconfig: noCurrent },
        `groups.web.kubeconfig ${noCurrent} has no current-context: set groups.web.context (one of: live, dead)`,
      ],
    ];
    for (const [config, message] of cases)
      await assert.rejects(provider(t, config).start(), {
        name: 'ProviderError',
        code: 'INVALID_ARGUMENT',
        message,
      });
  });

  it('no kubeconfig anywhere, or a $KUBECONFIG that cannot be read, says where one is looked for', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'scaleplane-kubehome-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // Before: the client's fallback to http://localhost:8080 without credentials, and the first call
    // failed with "HTTP protocol is not allowed when skipTLSVerify is not set or false".
    assert.throws(() => loadKubeConfig(k8s, 'web', {}, {}, dir, () => false), {
      code: 'INVALID_ARGUMENT',
      message: `group web: no kubeconfig: set groups.web.kubeconfig or $KUBECONFIG, create ${join(dir, '.kube', 'config')}, or run in a pod with a service account`,
    });
    const missing = join(dir, 'gone.yaml');
    assert.throws(() => loadKubeConfig(k8s, 'web', {}, { KUBECONFIG: missing }, dir), {
      code: 'INVALID_ARGUMENT',
      message: `group web: $KUBECONFIG ${missing} cannot be read (ENOENT: no such file or directory)`,
    });
  });

  it('picks the kubeconfig as the client library does, purely', () => {
    const home = '/home/op';
    const token = '/var/run/secrets/kubernetes.io/serviceaccount/token';
    const has =
      (...paths: string[]) =>
      (p: string) =>
        paths.includes(p);
    assert.deepEqual(kubeConfigSource('/etc/kc', { KUBECONFIG: '/a' }, has(), home), {
      kind: 'setting',
      path: '/etc/kc',
    });
    assert.deepEqual(kubeConfigSource(undefined, { KUBECONFIG: ':/a::/b' }, has(), home), {
      kind: 'env',
      paths: ['/a', '/b'],
    });
    assert.deepEqual(
      kubeConfigSource(undefined, { KUBECONFIG: '' }, has('/home/op/.kube/config', token), home),
      {
        kind: 'home',
        path: '/home/op/.kube/config',
      },
    );
    assert.deepEqual(kubeConfigSource(undefined, {}, has(token), home), { kind: 'in-cluster' });
    assert.deepEqual(kubeConfigSource(undefined, {}, has(), home), { kind: 'none' });
  });
});

describe('kubernetes provider: replacing a pod that fails its health checks', () => {
  /** Three Ready pods; drains are recorded with the number of API requests made before each. */
  async function three(t: TestContext) {
    const drained: { id: string; requestsBefore: number }[] = [];
    const { server, provider } = await setup(t, {}, 3, {
      drain: async (instance) => {
        drained.push({ id: instance.id, requestsBefore: server.requests.length });
      },
    });
    await provider.start();
    await provider.scaleTo(3);
    return { server, provider, drained };
  }
  const podPath = (name: string) => `/api/v1/namespaces/shop/pods/${name}`;

  it('drains it, evicts it (policy/v1 Eviction, uid precondition), and the Deployment recreates it', async (t) => {
    const { server, provider, drained } = await three(t);
    const [victim, ...others] = provider.instances();
    const uid = server.pods.get(victim!.id)?.metadata.uid;
    assert.match(uid, /^[0-9a-f-]{36}$/);
    server.readyHistory.length = 0;
    const sent = server.requests.length;
    const result = await provider.replace(victim!.id);

    assert.equal(result.method, 'eviction');
    const calls = server.requests.slice(sent).filter((r) => r.path.startsWith(`${podPath('')}`));
    assert.deepEqual(calls, [
      {
        method: 'POST',
        path: `${podPath(victim!.id)}/eviction`,
        query: {},
        contentType: 'application/json',
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: victim!.id, namespace: 'shop' },
          deleteOptions: { preconditions: { uid } },
        },
        token: 'test-token',
      },
    ]);
    assert.deepEqual(drained, [{ id: victim!.id, requestsBefore: sent }], 'drained before the eviction');
    const after = provider.instances();
    assert.deepEqual(
      after.map((i) => i.state),
      ['ready', 'ready', 'ready'],
    );
    assert.ok(!after.some((i) => i.id === victim!.id), '!after.some((i) => i.id === victim!.id)');
    for (const o of others)
      assert.ok(
        after.some((i) => i.id === o.id),
        `${o.id} kept`,
      );
    assert.equal(server.workloads.get('shop/web')?.object.spec.replicas, 3, 'replicas untouched');
    assert.ok(
      Math.min(...server.readyHistory) >= 2,
      `ready pods went down to ${Math.min(...server.readyHistory)}`,
    );
  });

  it('a PodDisruptionBudget that allows no disruption is honoured: CAPACITY, no delete, the pod stays', async (t) => {
    const { server, provider } = await three(t);
    server.setBudget('shop', 'web', 3);
    const [victim] = provider.instances();
    const sent = server.requests.length;
    await assert.rejects(provider.replace(victim!.id), { name: 'ProviderError', code: 'CAPACITY' });
    const calls = server.requests.slice(sent).filter((r) => r.path.startsWith(podPath(victim!.id)));
    assert.deepEqual(
      calls.map((r) => r.method),
      ['POST'],
    );
    assert.ok(
      provider.instances().some((i) => i.id === victim!.id && i.state === 'ready'),
      "provider.instances().some((i) => i.id === victim!.id && i.state === 'ready')",
    );
    // With room in the budget the same eviction goes through.
    server.setBudget('shop', 'web', 2);
    assert.equal((await provider.replace(victim!.id)).method, 'eviction');
  });

  for (const [mode, status] of [
    ['missing', 404],
    ['forbidden', 403],
  ] as const) {
    it(`falls back to DELETE (uid precondition) when the Eviction API answers ${status}`, async (t) => {
      const { server, provider } = await three(t);
      server.eviction = mode;
      const [victim] = provider.instances();
      const uid = server.pods.get(victim!.id)?.metadata.uid;
      const sent = server.requests.length;
      const result = await provider.replace(victim!.id);
      assert.equal(result.method, 'delete');
      const calls = server.requests.slice(sent).filter((r) => r.path.startsWith(podPath(victim!.id)));
      assert.deepEqual(
        calls.map((r) => [r.method, r.path, r.body]),
        [
          ['POST', `${podPath(victim!.id)}/eviction`, calls[0]!.body],
          ['DELETE', podPath(victim!.id), { preconditions: { uid } }],
        ],
      );
      assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 3);
      assert.ok(
        !provider.instances().some((i) => i.id === victim!.id),
        '!provider.instances().some((i) => i.id === victim!.id)',
      );
    });
  }

  it('an eviction that conflicts (409) while the pod is still there is BUSY, nothing deleted', async (t) => {
    const { server, provider } = await three(t);
    server.eviction = 'conflict';
    const [victim] = provider.instances();
    const sent = server.requests.length;
    await assert.rejects(provider.replace(victim!.id), { code: 'BUSY' });
    assert.deepEqual(
      server.requests
        .slice(sent)
        .filter((r) => r.path.startsWith(podPath(victim!.id)))
        .map((r) => r.method),
      ['POST', 'GET'],
    );
    assert.ok(
      server.pods.get(victim!.id) && !server.pods.get(victim!.id)!.metadata.deletionTimestamp,
      'server.pods.get(victim!.id) && !server.pods.get(victim!.id)!.metadata.deletionTimestamp',
    );
  });

  it('never the only Ready pod (CAPACITY), and one at a time (BUSY), without touching a pod', async (t) => {
    const { server, provider } = await setup(t, {}, 1);
    await provider.start();
    await provider.scaleTo(1);
    const [only] = provider.instances();
    await assert.rejects(provider.replace(only!.id), { code: 'CAPACITY' });
    assert.ok(
      !server.requests.some((r) => r.path.startsWith(podPath(''))),
      "!server.requests.some((r) => r.path.startsWith(podPath('')))",
    );

    await provider.scaleTo(3);
    const [a, b] = provider.instances();
    const first = provider.replace(a!.id);
    await assert.rejects(provider.replace(b!.id), { code: 'BUSY' });
    await first;
    assert.equal(
      server.requests.filter((r) => r.path.endsWith('/eviction')).length,
      1,
      'only the first was evicted',
    );
  });

  it('through the controller: held while every pod fails, evicted past replace_after once one passes, journaled', async (t) => {
    const { server, provider } = await three(t);
    const { clock, watch, verdict, next, reasons } = watchHealth(provider);
    const [victim, b, c] = provider.instances();
    for (const i of [victim!, b!, c!]) verdict(i.id, false);
    clock.now += REPLACE_AFTER;
    watch.tick();
    await next('HeldPanic', victim!.id);
    assert.ok(!server.requests.some((r) => r.path.endsWith('/eviction')), 'nothing evicted in panic');

    verdict(b!.id, true);
    verdict(c!.id, true);
    watch.tick();
    const replaced = await next('Replaced', victim!.id);
    assert.equal(replaced.inputs.method, 'eviction');
    assert.deepEqual(reasons(victim!.id), ['InstanceUnhealthy', 'HeldPanic', 'ReplaceUnhealthy', 'Replaced']);
    assert.equal(
      server.requests.filter((r) => r.path.endsWith('/eviction')).length,
      1,
      'one eviction, for the failing pod',
    );
    assert.ok(
      !provider.instances().some((i) => i.id === victim!.id),
      '!provider.instances().some((i) => i.id === victim!.id)',
    );
  });

  it('through the controller: a pod whose eviction a PodDisruptionBudget refuses stays out of rotation, is evicted again after replace_after, and serves again once it passes its checks', async (t) => {
    // The balancer's pool, fed as the app feeds it: instances on every change, drains by the hook.
    const pool = new Pool({ drainTimeout: 1000 });
    const { server, provider } = await setup(t, {}, 3, { drain: (instance) => pool.drain(instance.id) });
    provider.on('change', () => pool.setInstances(provider.instances()));
    await provider.start();
    await provider.scaleTo(3);
    pool.setInstances(provider.instances());
    const { clock, watch, verdict, reasons, times } = watchHealth(provider, pool);
    const victim = provider.instances()[0]!.id;
    const eligible = () => pool.eligible().some((m) => m.id === victim);
    const count = (reason: string) => times(victim, reason);
    const evictions = () => server.requests.filter((r) => r.path === `${podPath(victim)}/eviction`).length;
    // Whether the pool could pick the failing pod, after each change the provider reported.
    const pickable: boolean[] = [];
    provider.on('change', () => pickable.push(eligible()));
    // No disruption allowed: every eviction of a Ready pod is answered 429.
    server.setBudget('shop', 'web', 3);

    verdict(victim, false);
    clock.now += REPLACE_AFTER;
    watch.tick();
    await until(() => count('ReplaceFailed') === 1, 10_000, 'the first eviction refused');
    assert.equal(evictions(), 1);
    assert.equal(provider.instances().find((i) => i.id === victim)?.state, 'ready', 'still counted');
    assert.equal(pool.get(victim)?.draining, true, 'drained: it fails its checks');

    // Tried again once it has failed for another replace_after, not before.
    clock.now += REPLACE_AFTER - 1;
    watch.tick();
    assert.equal(count('ReplaceUnhealthy'), 1);
    clock.now += 1;
    watch.tick();
    await until(() => count('ReplaceFailed') === 2, 10_000, 'the second eviction refused');
    assert.equal(evictions(), 2);
    assert.ok(!eligible(), 'still out of rotation: it still fails');

    // It passes its checks again (the budget still allows nothing): it serves again.
    // Before: drained for good, Ready and counted in the replicas, serving nothing.
    const failedUntil = pickable.length;
    verdict(victim, true);
    await until(eligible, 5000, `${victim} back in rotation`);
    // Each retry repeats the pair before it: counted in those entries (see DecisionJournal).
    assert.deepEqual(reasons(victim), [
      'InstanceUnhealthy',
      'ReplaceUnhealthy×2',
      'ReplaceFailed×2',
      'InstanceHealthy',
      'ReturnedToService',
    ]);
    // Never pickable while it failed (a member re-added to the pool takes requests before its first
    // check): only the return, after it passed, made it so.
    assert.ok(pickable.length > 0 && !pickable.slice(0, failedUntil).includes(true), `${pickable}`);
    assert.equal(evictions(), 2, 'nothing evicted after it passed');
  });
});

it('maps pods and quantities purely', () => {
  assert.equal(quantityCpu('500m'), 0.5);
  assert.equal(quantityCpu('2'), 2);
  assert.equal(quantityMemory('256Mi'), 268435456);
  assert.equal(quantityMemory('1G'), 1e9);
  const pod = {
    metadata: { name: 'p', creationTimestamp: '2026-01-01T00:00:00Z' },
    status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: 'True' }] },
  };
  assert.equal(podInstance(pod, 'web', 80)?.state, 'ready');
  assert.equal(podInstance(pod, 'web', 80)?.address, '10.0.0.1:80');
  assert.equal(
    podInstance({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: 'x' } }, 'web', 80)?.state,
    'stopping',
  );
  assert.equal(podInstance({ metadata: { name: 'q' }, status: { phase: 'Pending' } }, 'web', 80), undefined);
});

it('backs off watches and words API errors purely', () => {
  // [failures in a row, pause]: a clean end or the first failure waits the base; then doubling, capped.
  const backoff: [number, number][] = [
    [0, 1000],
    [1, 1000],
    [2, 2000],
    [5, 16_000],
    [6, 30_000],
    [40, 30_000],
  ];
  for (const [failures, pause] of backoff) assert.equal(rewatchBackoff(1000, failures), pause, `${failures}`);
  assert.equal(watchFailure(null, undefined), undefined, 'a clean end');
  assert.equal(
    watchFailure(null, { code: 410, reason: 'Expired', message: 'too old' }),
    undefined,
    '410 Gone',
  );
  assert.equal(
    watchFailure(null, { code: 500, reason: 'InternalError', message: 'etcd' }),
    '500 InternalError: etcd',
  );
  assert.equal(
    watchFailure(Object.assign(new Error('Forbidden'), { statusCode: 403 }), undefined),
    '403 Forbidden',
  );
  const status = { kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'too many requests' };
  assert.equal(
    apiErrorText(
      Object.assign(new Error('HTTP-Code: 429\nMessage: x\nBody: …\nHeaders: …'), {
        code: 429,
        body: status,
      }),
    ),
    '429 TooManyRequests: too many requests',
  );
  assert.equal(
    apiErrorText({ code: 429, body: JSON.stringify(status), message: 'HTTP-Code: 429\n…' }),
    '429 TooManyRequests: too many requests',
  );
  assert.equal(
    apiErrorText({ code: 502, body: 'Bad Gateway\n<html>', message: 'HTTP-Code: 502' }),
    '502: Bad Gateway',
  );
  assert.equal(apiErrorText(new Error('socket hang up')), 'socket hang up');
});
