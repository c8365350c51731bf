// A StatefulSet resize writes its first PATCH (the template's resources behind a partition, the
// roll noted in scaleplane.io/resize-roll) at the resourceVersion it read, as client-go's
// RetryOnConflict does: an edit by another client between the read and the write makes it 409
// Conflict, and the resize reads the StatefulSet again and builds its PATCH from what it holds
// now, so the roll notes (and at its end restores) the other client's values. Before, the PATCH
// carried no precondition: a partition set in between was noted as the one before it and written
// over when the roll ended. Against KubeServer (kube-server.ts: no cluster runs on these machines),
// through the official client over real HTTP; the other client has its own token.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import type { KubeServer } from './kube-server.js';
import { STS_BEFORE as BEFORE, operatorPatch, STS_PATH as STS, startStatefulSet } from './sts-fixture.js';

/** statefulSet is startStatefulSet with the provider's info lines collected in `notes`. */
function statefulSet(t: TestContext, notes: string[] = []) {
  return startStatefulSet(t, { logger: { info: (_f, msg) => notes.push(msg), warn() {}, error() {} } });
}

/** ourPatches are Scaleplane's PATCHes of the StatefulSet object (not its scale). */
function ourPatches(server: KubeServer) {
  return server.requests.filter((r) => r.method === 'PATCH' && r.path === STS && r.token === 'test-token');
}

it("a partition set by kubectl between the resize's read and its write is read again and restored when the roll ends", async (t) => {
  const notes: string[] = [];
  const { server, provider, sts } = await statefulSet(t, notes);
  let edited = false;
  server.hold = (method, path) => {
    if (edited || method !== 'PATCH' || path !== STS) return undefined;
    edited = true;
    return operatorPatch(server, { spec: { updateStrategy: { rollingUpdate: { partition: 1 } } } }).then(
      () => undefined,
    );
  };
  await provider.resize({ cpu: 0.25 });
  assert.ok(edited, "the operator's PATCH landed as Scaleplane's first PATCH arrived");
  assert.equal(
    sts.spec.updateStrategy.rollingUpdate.partition,
    1,
    "the operator's partition stands once the roll ended (before: the 0 read before it was restored)",
  );
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, {
    limits: { cpu: '250m' },
    requests: { cpu: '250m' },
  });
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.equal(sts.spec.replicas, 2);
  const [refused, written] = ourPatches(server).map(
    (r) => r.body as { metadata?: { resourceVersion?: unknown; annotations?: Record<string, string> } },
  );
  assert.equal(typeof refused?.metadata?.resourceVersion, 'string', 'the first PATCH has a precondition');
  assert.equal(typeof written?.metadata?.resourceVersion, 'string', 'the second PATCH has one too');
  assert.notEqual(written!.metadata!.resourceVersion, refused!.metadata!.resourceVersion, 'read again');
  assert.equal(
    JSON.parse(written!.metadata!.annotations![ROLL_ANNOTATION]!).partition,
    1,
    "the roll notes the operator's partition as the user's",
  );
  assert.ok(
    notes.includes(
      'StatefulSet shop/web: changed since it was read (409 Conflict); reading it again and writing the resize onto what it holds now',
    ),
    `the conflict noted: ${notes.join(' | ')}`,
  );
});

it('a StatefulSet changed by another client before every write fails the resize naming it, and nothing is written', async (t) => {
  const { server, provider, sts } = await statefulSet(t);
  let edits = 0;
  let editing = false;
  server.hold = (method, path) => {
    // The operator's own PATCH goes through.
    if (editing || method !== 'PATCH' || path !== STS) return undefined;
    edits++;
    editing = true;
    return operatorPatch(server, { metadata: { annotations: { edit: String(edits) } } }).then(() => {
      editing = false;
    });
  };
  await assert.rejects(provider.resize({ cpu: 0.25 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'API_ERROR');
    assert.match(
      err.message,
      /^StatefulSet shop\/web: patch resources failed: changed by another client before each of 5 writes \(409 Conflict: .*\); the resize wrote nothing$/,
    );
    return true;
  });
  assert.equal(ourPatches(server).length, 5, 'five writes, each refused');
  assert.equal(sts.metadata.annotations?.edit, '5', "the operator's edits stand");
  assert.equal(edits, 5);
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, BEFORE, 'the template as it was');
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'no roll noted');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0);
  assert.equal(sts.spec.replicas, 2);
});
