// A scale decided while a StatefulSet resize writes its extra replica computes from the count on the
// API server: the roll's writes of `spec.replicas` and scaleTo's go one after the other, and the
// provider's extra replica counts once its write landed, not before; a write that failed leaves it
// uncounted. Before, the extra replica counted as soon as the roll began writing it: a scaleTo
// meanwhile read the replicas without it, took them for another client's and was refused (BUSY),
// and one after a failed write was refused the same way. Against KubeServer (kube-server.ts: no
// cluster runs on these machines), through the official client over real HTTP; the fake holds
// Scaleplane's write while the scale is decided.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import type { KubeServer } from './kube-server.js';
import { STS_PATH as STS, STS_BEFORE, startStatefulSet } from './sts-fixture.js';

const SCALE = `${STS}/scale`;
const RESIZED = { limits: { cpu: '250m' }, requests: { cpu: '250m' } };

type Body = {
  metadata?: { annotations?: Record<string, string | null> };
  spec?: { replicas?: number; template?: unknown };
};

/** statefulSet is startStatefulSet (2 replicas) with a promise of the provider's first info line saying `waits`. */
async function statefulSet(t: TestContext, timeout?: number) {
  let waited: () => void = () => {};
  const waiting = new Promise<void>((resolve) => {
    waited = resolve;
  });
  const started = await startStatefulSet(t, {
    ...(timeout !== undefined && { timeout }),
    logger: {
      info: (_f, msg) => {
        if (/waits for/.test(msg)) waited();
      },
      warn() {},
      error() {},
    },
  });
  return { ...started, waiting };
}

/** ours is the body of the request the fake just recorded when it is Scaleplane's `method` of `path`. */
function ours(
  server: KubeServer,
  method: string,
  path: string,
  at: string,
  wanted = 'PATCH',
): Body | undefined {
  const request = server.requests.at(-1);
  if (method !== wanted || path !== at || request?.token !== 'test-token') return undefined;
  return request.body as Body;
}

/** ourScaleWrites are the replicas of Scaleplane's PATCHes of the StatefulSet's scale. */
function ourScaleWrites(server: KubeServer): (number | undefined)[] {
  return server.requests
    .filter((r) => r.method === 'PATCH' && r.path === SCALE && r.token === 'test-token')
    .map((r) => (r.body as Body).spec?.replicas);
}

/** settled is `p`'s outcome: undefined once resolved, the error once rejected. */
function settled(p: Promise<void>): Promise<(Error & { code?: string }) | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => err as Error & { code?: string },
  );
}

it("a scale decided while the resize's extra replica is being written goes on top of it, not refused", async (t) => {
  const { server, provider, sts, waiting } = await statefulSet(t);
  // Held: the extra replica (2 + 1), until the scale to 4 has been decided: refused (before), or
  // queued behind the write (its info line).
  let scaling: Promise<Error | undefined> | undefined;
  server.hold = (method, path) => {
    if (scaling || ours(server, method, path, SCALE)?.spec?.replicas !== 3) return undefined;
    scaling = settled(provider.scaleTo(4));
    return Promise.race([scaling, waiting]).then(() => undefined);
  };
  await provider.resize({ cpu: 0.25 });
  assert.ok(scaling, "the scale was decided as the roll's extra replica was written");
  const err = await scaling;
  assert.equal(
    err,
    undefined,
    `the scale to 4 was made (before: BUSY, the 2 read taken for another client's count): ${err?.message}`,
  );
  assert.deepEqual(
    ourScaleWrites(server),
    [3, 5, 4],
    'the extra replica, the scale to 4 on top of it, the give-back to 4',
  );
  assert.equal(sts.spec.replicas, 4);
  assert.equal(provider.desired(), 4);
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, RESIZED);
});

it("a scale decided after the resize's extra replica failed to be written counts no extra replica", async (t) => {
  const { server, provider, sts } = await statefulSet(t);
  // The extra replica (2 + 1) is refused (403); held: the revert of the template that follows,
  // until the scale to 4 has been decided: refused (before), or written.
  let refused = false;
  server.forbid = (method, path) => {
    if (refused || ours(server, method, path, SCALE)?.spec?.replicas !== 3) return false;
    refused = true;
    return true;
  };
  let scaling: Promise<Error | undefined> | undefined;
  let written: () => void = () => {};
  const writing = new Promise<void>((resolve) => {
    written = resolve;
  });
  server.hold = (method, path) => {
    if (scaling && ours(server, method, path, SCALE)?.spec?.replicas === 4) written();
    const body = ours(server, method, path, STS);
    if (scaling || !refused || body?.spec?.template === undefined) return undefined;
    scaling = settled(provider.scaleTo(4));
    return Promise.race([scaling, writing]).then(() => undefined);
  };
  const failure = await settled(provider.resize({ cpu: 0.25 }));
  assert.ok(refused, "the roll's extra replica was refused");
  assert.ok(scaling, 'the scale was decided as the revert was written');
  assert.equal(failure?.code, 'API_ERROR');
  assert.match(failure?.message ?? '', /resize reverted/);
  const err = await scaling;
  assert.equal(
    err,
    undefined,
    `the scale to 4 was made (before: BUSY, the extra replica never written still counted): ${err?.message}`,
  );
  assert.deepEqual(
    ourScaleWrites(server),
    [3, 4],
    'the refused extra replica, the scale to 4; nothing to give back',
  );
  assert.equal(sts.spec.replicas, 4);
  assert.equal(provider.desired(), 4);
  assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined, 'the roll ended');
  assert.deepEqual(sts.spec.template.spec.containers[0].resources, STS_BEFORE, 'reverted');
});
