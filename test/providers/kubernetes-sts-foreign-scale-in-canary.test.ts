// Another client's scale-in (kubectl scale) while a StatefulSet resize's extra pod (the canary, at
// the ordinal of the partition) comes up takes that pod away, as a scale-in of ours does
// (kubernetes-sts-scale-in-canary.test.ts): the StatefulSet of 2 rolls with 3 and a partition of
// 2; kubectl scales it to 1, and no pod is left at or above the partition. Their count is the count
// wanted (see the README on another client's count during a roll): the roll keeps it, restores the
// user's partition, and lowers the partition only once a pod at the new size is Ready. A size whose
// pods fail was already reverted (the wait for 3 Ready pods never passed: coverage only). Before,
// a size that was fine was reverted too, at the timeout: the roll waited for the extra pod their
// count had taken away. Now it reads the scale again, rebases onto their 1 (partition 1) and puts
// its extra one on top, and web-1 comes up at the new size as the extra pod.
// Against KubeServer (kube-server.ts: no cluster runs on these machines), through the official
// client over real HTTP; the other client has its own token.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { until } from '../helpers/until.js';
import {
  operatorScale,
  pods,
  readyPods,
  STS_BEFORE,
  scaleTo1OnTheCanary,
  startStatefulSet,
} from './sts-fixture.js';

it('kubectl scale-in while the extra pod comes up: their count stands, and a size whose pods fail is reverted', async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 1500 });
  const { resize, lowered } = await scaleTo1OnTheCanary(server, provider, false, () =>
    operatorScale(server, 1),
  );
  assert.equal(
    lowered(),
    undefined,
    `the partition was never lowered: no pod at the new size was Ready (lowered with ${lowered()?.join(', ')})`,
  );
  assert.equal(resize?.code, 'RESIZE_FAILED', `the resize failed: ${resize?.message}`);
  assert.match(resize.message, /resize reverted/, 'the resize was reverted');
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, STS_BEFORE, 'the template reverted');
  assert.equal(sts.spec.replicas, 1, "the other client's count of 1 stands");
  assert.equal(provider.desired(), 1, "desired() is the other client's count");
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  await until(() => pods(server).length === 1, 10_000, 'one pod left').catch((err: Error) => {
    throw new Error(`${err.message}: ${pods(server).join(', ')}`);
  });
  assert.deepEqual(pods(server), ['web-0:500m:True'], 'web-0 Ready at the size before the resize');
});

it('kubectl scale-in while the extra pod comes up: the roll goes on from their count and lowers the partition only once a pod is Ready at the new size', async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 60_000 });
  const { resize, lowered } = await scaleTo1OnTheCanary(server, provider, true, () =>
    operatorScale(server, 1),
  );
  assert.equal(resize, undefined, `the resize finished: ${resize?.message}`);
  assert.deepEqual(
    lowered(),
    ['web-0:500m:True', 'web-1:250m:True'],
    'the partition lowered once web-1, the extra pod on top of their count, was Ready at the new size',
  );
  assert.deepEqual(
    sts.spec.template.spec.containers[0].resources,
    { limits: { cpu: '250m' }, requests: { cpu: '250m' } },
    'the template at the new size',
  );
  assert.equal(sts.spec.replicas, 1, "the other client's count of 1 stands, the extra replica given back");
  assert.equal(provider.desired(), 1, "desired() is the other client's count");
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  await until(() => readyPods(server).length === 1, 10_000, 'one pod Ready');
  assert.deepEqual(pods(server), ['web-0:250m:True'], 'web-0 rolled to the new size');
});
