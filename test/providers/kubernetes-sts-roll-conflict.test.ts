// The later writes of a StatefulSet resize's roll (the partition to 0, the previous resources
// written back, the user's partition restored) are made at the resourceVersion read, as the first
// PATCH is (kubernetes-sts-resize-conflict.test.ts): an edit by another client during the roll makes
// them 409 Conflict, and the roll reads the StatefulSet again and decides from what it holds now. A
// partition another client set during the roll stands when it ends; a template whose resources
// another client changed is not reverted. Before, these writes carried no precondition: the
// partition noted at the roll's start was written over theirs, and the revert wrote the resources
// before the resize over theirs. Against KubeServer (kube-server.ts: no cluster runs on these
// machines), through the official client over real HTTP; the other client has its own token.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import type { KubeServer } from './kube-server.js';
import { operatorPatch, readyPods, STS_PATH as STS, startStatefulSet } from './sts-fixture.js';

const RESIZED = { limits: { cpu: '250m' }, requests: { cpu: '250m' } };
const THEIRS = { limits: { cpu: '750m' }, requests: { cpu: '750m' } };

interface Note {
  reason?: unknown;
  msg: string;
}

/** statefulSet is startStatefulSet with the provider's warnings (and their reasons) collected. */
async function statefulSet(t: TestContext, timeout = 15_000) {
  const warnings: Note[] = [];
  const started = await startStatefulSet(t, {
    timeout,
    logger: {
      info() {},
      warn: (f, msg) => warnings.push({ reason: (f as { reason?: unknown }).reason, msg }),
      error() {},
    },
  });
  return { ...started, warnings };
}

type PatchBody = {
  metadata?: { resourceVersion?: unknown; annotations?: Record<string, string | null> };
  spec?: { updateStrategy?: unknown; template?: unknown };
};

/** ourPatches are the bodies of Scaleplane's PATCHes of the StatefulSet object (not its scale). */
function ourPatches(server: KubeServer): PatchBody[] {
  return server.requests
    .filter((r) => r.method === 'PATCH' && r.path === STS && r.token === 'test-token')
    .map((r) => r.body as PatchBody);
}

/**
 * editOnce makes the operator's PATCH `edit` land just before the first PATCH of Scaleplane's that
 * `when` picks is carried out (the fake's hold: the request recorded, then held).
 */
function editOnce(server: KubeServer, when: (body: PatchBody) => boolean, edit: object): () => boolean {
  let edited = false;
  server.hold = (method, path) => {
    const request = server.requests.at(-1);
    if (edited || method !== 'PATCH' || path !== STS || request?.token !== 'test-token') return undefined;
    if (!when(request.body as PatchBody)) return undefined;
    edited = true;
    return operatorPatch(server, edit).then(() => undefined);
  };
  return () => edited;
}

it('a partition set by kubectl as the roll ends stands: the roll removes its annotation and leaves the partition', async (t) => {
  const { server, provider, warnings, sts } = await statefulSet(t);
  // Held: the last write of the roll, which removes the annotation.
  const edited = editOnce(server, (body) => body.metadata?.annotations?.[ROLL_ANNOTATION] === null, {
    spec: { updateStrategy: { rollingUpdate: { partition: 1 } } },
  });
  await provider.resize({ cpu: 0.25 });
  assert.ok(edited(), "the operator's PATCH landed as Scaleplane's last PATCH arrived");
  assert.equal(
    sts.spec.updateStrategy.rollingUpdate.partition,
    1,
    "the operator's partition stands (before: the 0 noted at the roll's start was written over it)",
  );
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, RESIZED);
  assert.equal(sts.spec.replicas, 2);
  const [refused, written] = ourPatches(server).slice(-2);
  assert.equal(typeof refused?.metadata?.resourceVersion, 'string', 'the refused write has a precondition');
  assert.notEqual(written?.metadata?.resourceVersion, refused?.metadata?.resourceVersion, 'read again');
  assert.deepEqual(written, {
    metadata: {
      annotations: { [ROLL_ANNOTATION]: null },
      resourceVersion: written?.metadata?.resourceVersion,
    },
  });
  assert.deepEqual(
    warnings.filter((w) => w.reason === 'PartitionChangedElsewhere').map((w) => w.msg),
    [
      "StatefulSet shop/web: partition is 1, set by another client during a resize's roll (the roll would have restored 0); left as set",
    ],
  );
});

it('a partition set by kubectl while the extra pod comes up is noted as the one restored when the roll ends', async (t) => {
  const { server, provider, warnings, sts } = await statefulSet(t);
  // Held: the write lowering the partition to 0 (the previous resources leave the annotation).
  const edited = editOnce(
    server,
    (body) => body.metadata?.annotations?.[ROLL_ANNOTATION] === '{"partition":0,"replicas":2}',
    { spec: { updateStrategy: { rollingUpdate: { partition: 1 } } } },
  );
  await provider.resize({ cpu: 0.25 });
  assert.ok(edited(), "the operator's PATCH landed as Scaleplane's lowering of the partition arrived");
  assert.equal(
    sts.spec.updateStrategy.rollingUpdate.partition,
    1,
    "the operator's partition is restored (before: the 0 noted at the roll's start)",
  );
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  // Every pod rolled all the same: the partition was 0 while the StatefulSet controller rolled them.
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, RESIZED);
  assert.deepEqual(
    provider
      .instances()
      .map((i) => `${i.id} ${i.size?.cpu}`)
      .sort(),
    ['web-0 0.25', 'web-1 0.25'],
  );
  const lowering = ourPatches(server).filter((b) => b.spec?.updateStrategy !== undefined && !b.spec.template);
  assert.equal(
    lowering[1]?.metadata?.annotations?.[ROLL_ANNOTATION],
    '{"partition":1,"replicas":2}',
    'written again after the 409, noting their partition',
  );
  assert.deepEqual(
    warnings.filter((w) => w.reason === 'PartitionChangedElsewhere').map((w) => w.msg),
    [
      "StatefulSet shop/web: partition is 1, set by another client during a resize's roll (the roll would have restored 0); noted as the one to restore when the roll ends",
    ],
  );
});

it('resources another client wrote into the template during a failed roll are not reverted to those before the resize', async (t) => {
  const { server, provider, warnings, sts } = await statefulSet(t, 1500);
  // Both pods are Ready before new ones stop passing their probe: the failure is the extra pod's
  // (before, startStatefulSet returned with web-0 still starting and web-1 not created, and both
  // were then never Ready).
  assert.deepEqual(readyPods(server), ['web-0', 'web-1']);
  server.podsBecomeReady = false;
  // Held: the revert (the template's resources without the annotation), after the extra pod was
  // not Ready in time.
  const edited = editOnce(
    server,
    (body) => body.spec?.template !== undefined && body.metadata?.annotations === undefined,
    { spec: { template: { spec: { containers: [{ name: 'app', resources: THEIRS }] } } } },
  );
  const err = await provider.resize({ cpu: 0.25 }).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  assert.ok(edited(), "the operator's PATCH landed as Scaleplane's revert arrived");
  assert.deepEqual(
    sts.spec.template.spec.containers[0].resources,
    THEIRS,
    "the operator's resources stand (before: the resources before the resize were written over them)",
  );
  assert.equal(err?.code, 'RESIZE_FAILED');
  assert.doesNotMatch(err.message, /resize reverted/, 'nothing was reverted');
  assert.deepEqual(
    provider.size(),
    { cpu: 0.75 },
    "size() is the template's, which new pods get (before: the failed resize's 0.25)",
  );
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.equal(sts.spec.replicas, 2, 'the extra replica given back');
  assert.deepEqual(readyPods(server), ['web-0', 'web-1'], 'the pods rolled back are Ready again');
  assert.equal(
    ourPatches(server).filter((b) => b.spec?.template !== undefined).length,
    2,
    'the resize and the refused revert, not written again',
  );
  assert.deepEqual(
    warnings.filter((w) => w.reason === 'ResourcesChangedElsewhere').map((w) => w.msg),
    [
      `StatefulSet shop/web: the template's resources are not the ones the resize wrote ({"cpu":"250m"}), set by another client during its roll; left as set, not reverted`,
    ],
  );
});
