// A scale-in of Scaleplane's own made while a StatefulSet resize's extra pod (the canary, at the
// ordinal of the partition) comes up takes that pod away: the StatefulSet of 2 rolls with 3 and a
// partition of 2; the scale to 1 writes 2 (1 and the extra one), and the extra ordinal, 1, holds a
// pod from before the roll, behind the partition. Before, the roll counted that pod as its Ready
// extra pod: it lowered the partition at once, and a size whose pods never pass their probe rolled
// the pods the user serves from (web-0 left not Ready, nothing reverted). Now the partition comes
// down with the scale, the pod at the extra ordinal rolls to the new size, and the roll waits for
// it as for any extra pod. Against KubeServer (kube-server.ts: no cluster runs on these machines),
// through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { KubernetesProvider } from '../../src/providers/index.js';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { until } from '../helpers/until.js';
import type { KubeServer } from './kube-server.js';
import { readyPods, STS_BEFORE, STS_PATH, startStatefulSet } from './sts-fixture.js';

/** pods are shop/web's pods not terminating, as `name:cpu:ready` (cpu limit; Ready True/False), sorted. */
function pods(server: KubeServer): string[] {
  return [...server.pods.values()]
    .filter((p) => p.metadata.labels?.app === 'web' && !p.metadata.deletionTimestamp)
    .map((p) => {
      const ready = p.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status;
      return `${p.metadata.name}:${p.spec.containers[0].resources?.limits?.cpu}:${ready}`;
    })
    .sort();
}

type Body = {
  metadata?: { annotations?: Record<string, string | null> };
  spec?: { replicas?: number; updateStrategy?: { rollingUpdate?: { partition?: number } } };
};

/**
 * scaleTo1OnTheCanary resizes `provider` to 0.25 CPU with new pods not passing their probe from the
 * roll's extra replica (2 + 1) on, asks for a scale to 1 once the extra pod, web-2, runs (not
 * Ready), from then on with new pods passing it when `readyAgain`, and notes the pods as the roll
 * lowers the partition to 0 (the PATCH that notes the roll without the resources before). Returns
 * the resize's and the scale's outcomes (undefined, or the error) and the pods noted (undefined:
 * never lowered).
 */
async function scaleTo1OnTheCanary(server: KubeServer, provider: KubernetesProvider, readyAgain: boolean) {
  let lowered: string[] | undefined;
  server.hold = (method, path) => {
    const body = server.requests.at(-1)?.body as Body | undefined;
    if (method !== 'PATCH') return undefined;
    if (path === `${STS_PATH}/scale` && body?.spec?.replicas === 3) server.podsBecomeReady = false;
    const lowering =
      body?.spec?.updateStrategy?.rollingUpdate?.partition === 0 &&
      typeof body.metadata?.annotations?.[ROLL_ANNOTATION] === 'string';
    if (path === STS_PATH && lowering) lowered ??= pods(server);
    return undefined;
  };
  const outcome = (p: Promise<void>) =>
    p.then(
      () => undefined,
      (err: unknown) => err as Error & { code?: string },
    );
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
  const scaling = outcome(provider.scaleTo(1));
  return { resize: await resizing, scale: await scaling, lowered: () => lowered };
}

it('a scale-in of ours while the extra pod comes up: the pod at the extra ordinal rolls to the new size, and a size whose pods fail is reverted', async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 1500 });
  const { resize, scale, lowered } = await scaleTo1OnTheCanary(server, provider, false);
  assert.equal(
    lowered(),
    undefined,
    `the partition was never lowered: no pod at the new size was Ready (before: lowered with ${lowered()?.join(', ')})`,
  );
  assert.equal(resize?.code, 'RESIZE_FAILED', `the resize failed: ${resize?.message}`);
  assert.match(resize.message, /resize reverted/, 'the resize was reverted');
  // The scale's own wait runs out on the same timeout as the roll's, and may end before the roll
  // gave its replica back: what it wrote is what is asserted.
  assert.ok(scale === undefined || scale.code === 'API_ERROR', `the scale to 1 was made: ${scale?.message}`);
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, STS_BEFORE, 'the template reverted');
  assert.equal(sts.spec.replicas, 1, 'the scale to 1 kept, the extra replica given back');
  assert.equal(provider.desired(), 1, 'desired() is the count scaled to');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  await until(() => pods(server).length === 1, 10_000, 'one pod left').catch((err: Error) => {
    throw new Error(`${err.message}: ${pods(server).join(', ')}`);
  });
  assert.deepEqual(
    pods(server),
    ['web-0:500m:True'],
    'web-0 Ready at the size before the resize (before: rolled to the failed size, not Ready)',
  );
});

it('a scale-in of ours while the extra pod comes up: the roll lowers the partition only once the pod at the extra ordinal is Ready at the new size', async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 60_000 });
  const { resize, scale, lowered } = await scaleTo1OnTheCanary(server, provider, true);
  assert.equal(resize, undefined, `the resize finished: ${resize?.message}`);
  assert.equal(scale, undefined, `the scale to 1 was made: ${scale?.message}`);
  assert.deepEqual(
    lowered(),
    ['web-0:500m:True', 'web-1:250m:True'],
    'the partition lowered once web-1, at the extra ordinal, was Ready at the new size (before: at once, web-1 from before the roll)',
  );
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, {
    limits: { cpu: '250m' },
    requests: { cpu: '250m' },
  });
  assert.equal(sts.spec.replicas, 1, 'the scale to 1 kept, the extra replica given back');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  await until(() => readyPods(server).length === 1, 10_000, 'one pod Ready');
  assert.deepEqual(pods(server), ['web-0:250m:True'], 'web-0 rolled to the new size');
});
