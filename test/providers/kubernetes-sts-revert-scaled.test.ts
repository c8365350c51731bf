// A StatefulSet resize whose extra pod is not Ready in time is reverted; when another client scaled
// the StatefulSet up during the roll, their count stands and the extra pod is not given back. It
// still runs the size that failed, not Ready, and the StatefulSet controller replaces no pod that
// is not Ready (Kubernetes' "forced rollback"): it stayed so, and no pod of their count above it
// was created. The revert now deletes it (uid precondition), and the controller recreates it from
// the reverted template. Before, it stayed at the new size for good, although the resize said that
// no pod of the workload was rolled. Against KubeServer (kube-server.ts: no cluster runs on these
// machines), through the official client over real HTTP; the other client has its own token.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { it } from 'node:test';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { operatorScale, STS_PATH as STS, STS_BEFORE, startStatefulSet } from './sts-fixture.js';

type Body = { metadata?: { annotations?: unknown }; spec?: { template?: unknown } };

it('kubectl scale during a roll that is reverted: the extra pod, not Ready at the new size, is deleted and comes back at the previous size', async (t) => {
  const { server, provider, sts } = await startStatefulSet(t, { timeout: 1500 });
  const ready = () => provider.instances().filter((i) => i.state === 'ready').length;
  while (ready() < 2) await once(provider, 'change');
  server.podsBecomeReady = false;
  // Held: the revert (the template's resources, the annotation left as it is), after the extra pod
  // web-2 was not Ready in time: the operator scales to 4 first, and pods are Ready from then on.
  let scaled = false;
  server.hold = (method, path) => {
    const request = server.requests.at(-1);
    if (scaled || method !== 'PATCH' || path !== STS || request?.token !== 'test-token') return undefined;
    const body = request.body as Body;
    if (body.spec?.template === undefined || body.metadata?.annotations !== undefined) return undefined;
    scaled = true;
    return operatorScale(server, 4).then(() => {
      server.podsBecomeReady = true;
    });
  };
  const err = await provider.resize({ cpu: 0.25 }).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  assert.ok(scaled, "the operator's scale landed as the revert arrived");
  assert.equal(err?.code, 'RESIZE_FAILED');
  assert.match(err?.message ?? '', /resize reverted/);
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, STS_BEFORE, 'reverted');
  assert.equal(sts.spec.replicas, 4, "the operator's count stands");
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  const deletes = server.requests
    .filter((r) => r.method === 'DELETE' && r.token === 'test-token')
    .map((r) => r.path.split('/').at(-1));
  assert.deepEqual(deletes, ['web-2'], 'the extra pod, not Ready at the new size, deleted (before: none)');
  // The StatefulSet controller recreates web-2 from the reverted template, then web-3.
  const sizes = () =>
    provider
      .instances()
      .map((i) => `${i.id} ${i.size?.cpu} ${i.state}`)
      .sort();
  const want = ['web-0 0.5 ready', 'web-1 0.5 ready', 'web-2 0.5 ready', 'web-3 0.5 ready'];
  while (JSON.stringify(sizes()) !== JSON.stringify(want)) await once(provider, 'change');
});
