// A StatefulSet resize's extra replica is written, and given back, at the resourceVersion of the
// scale read, as a scale is (#scaleOver): a `kubectl scale` landing just before either write makes
// it 409 Conflict, and the roll reads the scale again and decides from what it holds now. The other
// client's count stands: the extra one goes on top of it, and the give-back leaves it. Before, the
// surge wrote desired + 1 unread, and the give-back wrote desired over a count set between its read
// and its write. Against KubeServer (kube-server.ts: no cluster runs on these machines), through the
// official client over real HTTP; the other client has its own token.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import type { KubeServer } from './kube-server.js';
import { operatorScale, STS_PATH as STS, startStatefulSet } from './sts-fixture.js';

const SCALE = `${STS}/scale`;
const RESIZED = { limits: { cpu: '250m' }, requests: { cpu: '250m' } };

interface Note {
  reason?: unknown;
  msg: string;
}

type ScaleBody = { metadata?: { resourceVersion?: unknown }; spec?: { replicas?: number } };

/** statefulSet is startStatefulSet (2 replicas) with the provider's warnings (and their reasons) collected. */
async function statefulSet(t: TestContext) {
  const warnings: Note[] = [];
  const started = await startStatefulSet(t, {
    logger: {
      info() {},
      warn: (f, msg) => warnings.push({ reason: (f as { reason?: unknown }).reason, msg }),
      error() {},
    },
  });
  return { ...started, warnings };
}

/** ourScalePatches are the bodies of Scaleplane's PATCHes of the StatefulSet's scale. */
function ourScalePatches(server: KubeServer): ScaleBody[] {
  return server.requests
    .filter((r) => r.method === 'PATCH' && r.path === SCALE && r.token === 'test-token')
    .map((r) => r.body as ScaleBody);
}

/**
 * scaleOnce makes the operator's `kubectl scale` to `replicas` land just before the first PATCH of
 * Scaleplane's scale writing `writing` is carried out (the fake's hold: the request recorded, then held).
 */
function scaleOnce(server: KubeServer, writing: number, replicas: number): () => boolean {
  let scaled = false;
  server.hold = (method, path) => {
    const request = server.requests.at(-1);
    if (scaled || method !== 'PATCH' || path !== SCALE || request?.token !== 'test-token') return undefined;
    if ((request.body as ScaleBody).spec?.replicas !== writing) return undefined;
    scaled = true;
    return operatorScale(server, replicas).then(() => undefined);
  };
  return () => scaled;
}

/** sizes are the instances' ids and cpu, sorted. */
function sizes(provider: Awaited<ReturnType<typeof statefulSet>>['provider']): string[] {
  return provider
    .instances()
    .map((i) => `${i.id} ${i.size?.cpu}`)
    .sort();
}

it('replicas set by kubectl just before the give-back is written stand: the give-back re-reads and leaves them', async (t) => {
  const { server, provider, warnings, sts } = await statefulSet(t);
  // Held: the give-back (3, the replicas and the extra one, back to 2).
  const scaled = scaleOnce(server, 2, 4);
  await provider.resize({ cpu: 0.25 });
  assert.ok(scaled(), "the operator's scale landed as Scaleplane's give-back arrived");
  assert.equal(
    sts.spec.replicas,
    4,
    "the operator's replicas stand (before: the give-back wrote 2 over them)",
  );
  assert.equal(provider.desired(), 4);
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, RESIZED);
  const writes = ourScalePatches(server);
  assert.deepEqual(
    writes.map((b) => b.spec?.replicas),
    [3, 2],
    'the extra replica, then the refused give-back, not written again',
  );
  for (const body of writes)
    assert.equal(typeof body.metadata?.resourceVersion, 'string', 'each write has a precondition');
  assert.deepEqual(
    warnings.filter((w) => w.reason === 'ReplicasChangedElsewhere').map((w) => w.msg),
    [
      "StatefulSet shop/web: replicas is 4, set by another client during a resize's roll (it was 2 and the roll's extra one); left as set, desired is 4 now",
    ],
  );
});

it('replicas set by kubectl just before the extra replica is written stand: the extra one goes on top of theirs', async (t) => {
  const { server, provider, warnings, sts } = await statefulSet(t);
  // Held: the extra replica (2 + 1).
  const scaled = scaleOnce(server, 3, 4);
  await provider.resize({ cpu: 0.25 });
  assert.ok(scaled(), "the operator's scale landed as Scaleplane's extra replica arrived");
  assert.equal(
    sts.spec.replicas,
    4,
    "the operator's replicas stand (before: 3 was written over them, and 2 given back at the end)",
  );
  assert.equal(provider.desired(), 4);
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0, "the user's partition restored");
  assert.deepEqual(sizes(provider), ['web-0 0.25', 'web-1 0.25', 'web-2 0.25', 'web-3 0.25']);
  const writes = ourScalePatches(server);
  assert.deepEqual(
    writes.map((b) => b.spec?.replicas),
    [3, 5, 4],
    'the refused extra replica, the extra one on top of theirs, the give-back',
  );
  assert.equal(typeof writes[0]?.metadata?.resourceVersion, 'string', 'the refused write has a precondition');
  assert.notEqual(writes[1]?.metadata?.resourceVersion, writes[0]?.metadata?.resourceVersion, 'read again');
  assert.deepEqual(
    warnings.filter((w) => w.reason === 'ReplicasChangedElsewhere').map((w) => w.msg),
    [
      "StatefulSet shop/web: replicas is 4, set by another client as a resize's roll began (it was 2); the roll's extra one goes on top of theirs, desired is 4 now",
    ],
  );
});
