// A scale of Scaleplane's own made while a StatefulSet resize rolls moves the roll's annotation
// (scaleplane.io/resize-roll) with it: its `replicas` (and, while every pod is behind it, the
// partition) are the count just written. A successor controller (HA takeover) that finds the roll
// half-done takes its count from the annotation: before, the annotation kept the count from before
// the scale (2), the successor read 5 replicas (4 and the extra one), took them for another client's
// count and finished the roll at 5 instead of 4. Against KubeServer (kube-server.ts: no cluster runs
// on these machines), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { KubernetesProvider } from '../../src/providers/index.js';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { until } from '../helpers/until.js';
import type { KubeServer } from './kube-server.js';
import { readyPods, STS_BEFORE, STS_PATH, startStatefulSet, stsProvider } from './sts-fixture.js';

/** noted is the roll annotation on `sts` as `replicas/canary` ('none' without one, '-' for no canary). */
function noted(sts: { metadata: { annotations?: Record<string, string> } }): string {
  const text = sts.metadata.annotations?.[ROLL_ANNOTATION];
  if (text === undefined) return 'none';
  const roll = JSON.parse(text) as { replicas: number; canary?: number };
  return `${roll.replicas}/${roll.canary ?? '-'}`;
}

/**
 * scaleTo4OnTheExtraReplica asks `provider` for a scale to 4 when the roll writes its extra replica
 * (2 + 1), queued behind it, and from there makes no pod Ready; gives the scale's outcome once asked.
 */
function scaleTo4OnTheExtraReplica(server: KubeServer, provider: KubernetesProvider) {
  let scaling: Promise<unknown> | undefined;
  server.hold = (method, path) => {
    const body = server.requests.at(-1)?.body as { spec?: { replicas?: number } } | undefined;
    if (scaling || method !== 'PATCH' || path !== `${STS_PATH}/scale` || body?.spec?.replicas !== 3)
      return undefined;
    server.podsBecomeReady = false;
    scaling = provider.scaleTo(4).catch((err: unknown) => err);
    return undefined;
  };
  return () => scaling;
}

it("a scale of ours during a StatefulSet roll moves the roll's replicas: a successor finishes it at the count scaled to", async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 60_000 });
  provider.on('error', () => {});
  // Held: the roll's extra replica (2 + 1). The scale to 4 is asked meanwhile (queued behind it:
  // it writes 4 and the extra one), and from here no pod becomes Ready: the roll waits for its
  // extra pod, half-done, when the controller goes.
  const scaling = scaleTo4OnTheExtraReplica(server, provider);
  const resizing = provider.resize({ cpu: 0.25 }).catch((err: unknown) => err);
  await until(
    () => sts.spec.replicas === 5 && provider.desired() === 4,
    10_000,
    'the scale to 4 written on top of the extra replica',
  );
  await until(() => noted(sts as never) === '4/2', 10_000, "the roll's annotation notes 4 replicas").catch(
    (err: Error) => {
      throw new Error(`${err.message} — it notes ${noted(sts as never)} (replicas/canary partition)`);
    },
  );
  assert.equal(
    sts.spec.updateStrategy.rollingUpdate.partition,
    2,
    'the partition where it was: the pods from before the resize behind it',
  );
  // The controller goes (HA takeover): the roll is left as it stands.
  await provider.close();
  assert.equal(((await resizing) as { code?: string } | undefined)?.code, 'CLOSED');
  await scaling();

  // The extra pod started while no pod could become Ready (when its start beat the scale above, it
  // is Ready already): its probe passes now, as it would once the cause is fixed.
  server.podsBecomeReady = true;
  server.passReadinessProbes();
  const successor = stsProvider(server, { timeout: 60_000 });
  t.after(() => successor.close());
  await successor.start();
  assert.equal(successor.desired(), 4, 'the successor takes the 4 noted (before: 5, the extra replica too)');
  await successor.resumedResize();
  assert.equal(sts.spec.replicas, 4, 'the roll finished at 4 (before: at 5)');
  assert.equal(successor.desired(), 4);
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  await until(() => readyPods(server).length === 4, 10_000, '4 pods Ready');
  assert.deepEqual(readyPods(server), ['web-0', 'web-1', 'web-2', 'web-3']);
});

it('a roll that fails after a scale of ours moved its replicas reverts as before: the pods above the partition come back at the previous size', async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 1500 });
  const scaling = scaleTo4OnTheExtraReplica(server, provider);
  const err = (await provider.resize({ cpu: 0.25 }).catch((e: unknown) => e)) as Error & { code?: string };
  assert.equal(err?.code, 'RESIZE_FAILED');
  assert.match(err.message, /resize reverted/);
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, STS_BEFORE, 'reverted');
  assert.equal(sts.spec.replicas, 4, 'the scale to 4 kept, the extra replica given back');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  const atNewSize = () =>
    [...server.pods.values()]
      .filter((p) => !p.metadata.deletionTimestamp && p.spec.containers[0].resources?.limits?.cpu === '250m')
      .map((p) => p.metadata.name as string);
  await until(() => atNewSize().length === 0, 10_000, 'no pod left at the failed size').catch((e: Error) => {
    throw new Error(`${e.message}: ${atNewSize().join(', ')}`);
  });
  server.podsBecomeReady = true;
  await scaling();
});
