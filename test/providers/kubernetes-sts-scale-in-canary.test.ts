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
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { until } from '../helpers/until.js';
import {
  outcome,
  pods,
  readyPods,
  STS_BEFORE,
  scaleTo1OnTheCanary,
  startStatefulSet,
} from './sts-fixture.js';

it('a scale-in of ours while the extra pod comes up: the pod at the extra ordinal rolls to the new size, and a size whose pods fail is reverted', async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 1500 });
  const { resize, scale, lowered } = await scaleTo1OnTheCanary(server, provider, false, () =>
    outcome(provider.scaleTo(1)),
  );
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
  const { resize, scale, lowered } = await scaleTo1OnTheCanary(server, provider, true, () =>
    outcome(provider.scaleTo(1)),
  );
  assert.equal(resize, undefined, `the resize finished: ${resize?.message}`);
  assert.equal(scale, undefined, `the scale to 1 was made: ${scale?.message}`);
  assert.deepEqual(
    lowered(),
    ['web-0:500m:True', 'web-1:250m:True'],
    'the partition lowered once web-1, at the extra ordinal, was Ready at the new size (before: at once, web-1 from before the roll)',
  );
  assert.deepEqual(
    sts.spec.template.spec.containers[0].resources,
    { limits: { cpu: '250m' }, requests: { cpu: '250m' } },
    'the template at the new size',
  );
  assert.equal(sts.spec.replicas, 1, 'the scale to 1 kept, the extra replica given back');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  await until(() => readyPods(server).length === 1, 10_000, 'one pod Ready');
  assert.deepEqual(pods(server), ['web-0:250m:True'], 'web-0 rolled to the new size');
});
