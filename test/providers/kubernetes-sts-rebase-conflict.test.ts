// A StatefulSet resize's roll that finds replicas another client set (kubectl scale) rebases onto
// them: it writes them into its annotation and, while every pod is behind it, moves the partition
// with them. That write is decided from the StatefulSet as read and made at its resourceVersion, as
// the roll's other writes are (kubernetes-sts-roll-conflict.test.ts): a partition another client set
// just before it makes it 409 Conflict, and the roll reads again and rebases onto what it holds now,
// leaving their partition. Before, the rebase's PATCH carried no precondition and was built from
// nothing read: their partition was written over, and the user's restored when the roll ended.
// Against KubeServer (kube-server.ts: no cluster runs on these machines), through the official
// client over real HTTP; the other client has its own token.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import type { KubeServer } from './kube-server.js';
import { operatorPatch, operatorScale, STS_PATH as STS, startStatefulSet } from './sts-fixture.js';

const SCALE = `${STS}/scale`;
const RESIZED = { limits: { cpu: '250m' }, requests: { cpu: '250m' } };

interface Note {
  reason?: unknown;
  msg: string;
}

type PatchBody = {
  metadata?: { resourceVersion?: unknown; annotations?: Record<string, string | null> };
  spec?: { replicas?: number; updateStrategy?: { rollingUpdate?: { partition?: number } } };
};

/** ours is the request the fake just recorded when it is a PATCH of Scaleplane's of `path`. */
function ours(server: KubeServer, method: string, path: string, at: string): PatchBody | undefined {
  const request = server.requests.at(-1);
  if (method !== 'PATCH' || path !== at || request?.token !== 'test-token') return undefined;
  return request.body as PatchBody;
}

/**
 * rebases are the bodies of Scaleplane's PATCHes of the StatefulSet noting `replicas` in the roll's
 * annotation with the resources before the resize (the partition's lowering drops them).
 */
function rebases(server: KubeServer, replicas: number): PatchBody[] {
  return server.requests
    .filter((r) => r.method === 'PATCH' && r.path === STS && r.token === 'test-token')
    .map((r) => r.body as PatchBody)
    .filter((b) => {
      const noted = b.metadata?.annotations?.[ROLL_ANNOTATION];
      if (typeof noted !== 'string') return false;
      const roll = JSON.parse(noted) as { replicas?: number; previous?: unknown };
      return roll.replicas === replicas && roll.previous !== undefined;
    });
}

it('a partition set by kubectl just before the roll rebases onto their replicas stands: the rebase re-reads and leaves it', async (t) => {
  const warnings: Note[] = [];
  const { server, provider, sts } = await startStatefulSet(t, {
    logger: {
      info() {},
      warn: (f, msg) => warnings.push({ reason: (f as { reason?: unknown }).reason, msg }),
      error() {},
    },
  });
  // 1. The operator's `kubectl scale --replicas=4` lands just before the extra replica (2 + 1) is
  //    written: the roll reads 4 and rebases onto them. 2. The operator's partition 1 lands just
  //    before that rebase (the annotation noting 4 replicas) is written.
  let scaled = false;
  let partitioned = false;
  server.hold = (method, path) => {
    const scale = ours(server, method, path, SCALE);
    if (!scaled && scale?.spec?.replicas === 3) {
      scaled = true;
      return operatorScale(server, 4).then(() => undefined);
    }
    if (!partitioned && ours(server, method, path, STS) && rebases(server, 4).length === 1) {
      partitioned = true;
      return operatorPatch(server, { spec: { updateStrategy: { rollingUpdate: { partition: 1 } } } }).then(
        () => undefined,
      );
    }
    return undefined;
  };
  await provider.resize({ cpu: 0.25 });
  assert.ok(scaled, "the operator's scale landed as Scaleplane's extra replica arrived");
  assert.ok(partitioned, "the operator's partition landed as Scaleplane's rebase arrived");
  assert.equal(
    sts.spec.updateStrategy.rollingUpdate.partition,
    1,
    "the operator's partition stands (before: the rebase wrote 4 over it, and the roll's end restored 0)",
  );
  assert.equal(sts.spec.replicas, 4, "the operator's replicas stand");
  assert.equal(provider.desired(), 4);
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, RESIZED);
  const [refused, written, ...more] = rebases(server, 4);
  assert.equal(more.length, 0, 'the refused rebase and the one written after reading again');
  assert.equal(typeof refused?.metadata?.resourceVersion, 'string', 'the refused rebase has a precondition');
  assert.equal(refused?.spec?.updateStrategy?.rollingUpdate?.partition, 4, 'it moved the partition');
  assert.equal(typeof written?.metadata?.resourceVersion, 'string', 'the rebase written has one');
  assert.notEqual(written?.metadata?.resourceVersion, refused?.metadata?.resourceVersion, 'read again');
  assert.equal(written?.spec, undefined, 'their partition is not written over: only the annotation is');
  assert.deepEqual(
    warnings.filter((w) => w.reason === 'PartitionChangedElsewhere').map((w) => w.msg),
    [
      "StatefulSet shop/web: partition is 1, set by another client during a resize's roll (the roll would have restored 0); noted as the one to restore when the roll ends",
    ],
  );
});
