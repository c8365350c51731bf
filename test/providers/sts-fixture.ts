// The StatefulSet the resize-conflict tests roll: shop/web on KubeServer (kube-server.ts: no
// cluster runs on these machines), a provider for it through the official client over real HTTP,
// and another client (kubectl, its own token) that edits it meanwhile.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { KubernetesProvider, type KubernetesProviderOptions } from '../../src/providers/index.js';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { until } from '../helpers/until.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from './kube-server.js';

/** STS_PATH is shop/web's path on the API server. */
export const STS_PATH = '/apis/apps/v1/namespaces/shop/statefulsets/web';
/** STS_BEFORE are shop/web's container resources before any resize. */
export const STS_BEFORE = { limits: { cpu: '500m' }, requests: { cpu: '500m' } };

type Logger = ConstructorParameters<typeof KubernetesProvider>[0]['logger'];

/**
 * startStatefulSet is shop/web, a StatefulSet of 2 Ready pods at STS_BEFORE (partition 0), and a
 * provider for it, started once both pods are Ready (OrderedReady: web-1 is created only after web-0
 * is, so without the wait a test that sets `podsBecomeReady = false` next could leave them never
 * Ready); both closed after the test.
 */
export async function startStatefulSet(t: TestContext, options: { timeout?: number; logger?: Logger } = {}) {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload('StatefulSet', 'shop', 'web', 2, STS_BEFORE);
  await until(() => readyPods(server).length === 2, 10_000, "shop/web's 2 pods Ready");
  const provider = stsProvider(server, {
    ...(options.timeout !== undefined && { timeout: options.timeout }),
    ...(options.logger && { logger: options.logger }),
  });
  t.after(() => provider.close());
  await provider.start();
  return { server, provider, sts: server.workloads.get('shop/web')!.object };
}

/**
 * stsProvider is a provider of group web (1..5) for the StatefulSet shop/web on `server`, not
 * started or closed: rollouts polled and watches renewed every 50 ms, a 15 s timeout; `options`
 * merged in.
 */
export function stsProvider(server: KubeServer, options: Partial<KubernetesProviderOptions> = {}) {
  return new KubernetesProvider({
    group: 'web',
    config: { ...WEB_DEPLOYMENT, kind: 'StatefulSet' },
    minInstances: 1,
    maxInstances: 5,
    client: { kubeConfig: kubeConfig(server.url) },
    rolloutPoll: 50,
    rewatchDelay: 50,
    timeout: 15_000,
    ...options,
  });
}

/** operatorPatch is another client's (kubectl's) strategic merge PATCH of shop/web. */
export function operatorPatch(server: KubeServer, body: object) {
  return kubeConfig(server.url, 'operator')
    .makeApiClient(k8s.AppsV1Api)
    .patchNamespacedStatefulSet(
      { name: 'web', namespace: 'shop', body },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
}

/** operatorScale is another client's `kubectl scale` of shop/web: a merge PATCH of its scale subresource. */
export function operatorScale(server: KubeServer, replicas: number) {
  return kubeConfig(server.url, 'operator')
    .makeApiClient(k8s.AppsV1Api)
    .patchNamespacedStatefulSetScale(
      { name: 'web', namespace: 'shop', body: { spec: { replicas } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
}

/** readyPods are the names of shop/web's pods the fake holds Ready (and not terminating), sorted. */
export function readyPods(server: KubeServer): string[] {
  return [...server.pods.values()]
    .filter(
      (p) =>
        p.metadata.labels?.app === 'web' &&
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
        ),
    )
    .map((p) => p.metadata.name as string)
    .sort();
}

/** pods are shop/web's pods not terminating, as `name:cpu:ready` (cpu limit; Ready True/False), sorted. */
export function pods(server: KubeServer): string[] {
  return [...server.pods.values()]
    .filter((p) => p.metadata.labels?.app === 'web' && !p.metadata.deletionTimestamp)
    .map((p) => {
      const ready = p.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status;
      return `${p.metadata.name}:${p.spec.containers[0].resources?.limits?.cpu}:${ready}`;
    })
    .sort();
}

/** Body is the part of a PATCH of shop/web (or of its scale) the tests read. */
type Body = {
  metadata?: { annotations?: Record<string, string | null> };
  spec?: { replicas?: number; updateStrategy?: { rollingUpdate?: { partition?: number } } };
};

/** outcome is what `p` settles with: undefined, or the error. */
export const outcome = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err as Error & { code?: string },
  );

/**
 * scaleTo1OnTheCanary resizes `provider` to 0.25 CPU with new pods not passing their probe from the
 * roll's extra replica (2 + 1) on, calls `scaleTo1` (a scale of ours, or another client's) once the
 * extra pod, web-2, runs (not Ready), from then on with new pods passing it when `readyAgain`, and
 * notes the pods as the roll lowers the partition to 0 (the PATCH of ours that notes the roll
 * without the resources before). Returns the resize's outcome (undefined, or the error), what
 * `scaleTo1` resolved with, and the pods noted (undefined: never lowered).
 */
export async function scaleTo1OnTheCanary<T>(
  server: KubeServer,
  provider: KubernetesProvider,
  readyAgain: boolean,
  scaleTo1: () => Promise<T>,
) {
  let lowered: string[] | undefined;
  server.hold = (method, path) => {
    const request = server.requests.at(-1);
    const body = request?.body as Body | undefined;
    // Ours only: another client's PATCH is the scale under test, not the roll's.
    if (method !== 'PATCH' || request?.token !== 'test-token') return undefined;
    if (path === `${STS_PATH}/scale` && body?.spec?.replicas === 3) server.podsBecomeReady = false;
    const lowering =
      body?.spec?.updateStrategy?.rollingUpdate?.partition === 0 &&
      typeof body.metadata?.annotations?.[ROLL_ANNOTATION] === 'string';
    if (path === STS_PATH && lowering) lowered ??= pods(server);
    return undefined;
  };
  const resizing = outcome(provider.resize({ cpu: 0.25 }));
  await until(
    () => server.pods.get('web-2')?.status?.phase === 'Running',
    10_000,
    'the extra pod web-2 running',
  );
  assert.deepEqual(
    pods(server),
    ['web-0:500m:True', 'web-1:500m:True', 'web-2:250m:False'],
    'the extra pod at the new size, coming up',
  );
  // For pods started from here on: web-2 stays not Ready until the scale-in deletes it.
  if (readyAgain) server.podsBecomeReady = true;
  // resizing never rejects: a failing scaleTo1 fails the test at once.
  const [resize, scale] = await Promise.all([resizing, scaleTo1()]);
  return { resize, scale, lowered: () => lowered };
}
