// A Deployment resize's roll: the user's strategy comes back once it ends (complete, failed and
// reverted, or ended by a successor controller), a Recreate Deployment keeps its strategy, and a
// failed resize goes back to the size last in force, not to one that never finished rolling out.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  KubernetesProvider,
  type KubernetesProviderOptions,
  ProviderError,
} from '../../src/providers/index.js';
import { DEPLOYMENT_ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { until } from '../helpers/until.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT, webOnKube } from './kube-server.js';

const MIB = 1024 * 1024;

/** deployment is shop/web as the fake API server stores it. */
// biome-ignore lint/suspicious/noExplicitAny: free-form Kubernetes object
function deployment(server: KubeServer): Record<string, any> {
  return server.workloads.get('shop/web')!.object;
}

/** resizePatches are the PATCH bodies the Deployment got. */
function resizePatches(server: KubeServer): unknown[] {
  return server.requests
    .filter((r) => r.method === 'PATCH' && r.path === '/apis/apps/v1/namespaces/shop/deployments/web')
    .map((r) => r.body);
}

function settled(p: Promise<void>): Promise<(Error & { code?: string }) | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
}

/** assertUserStrategy says the Deployment is back on the user's 25%/25% and carries no roll annotation. */
function assertUserStrategy(server: KubeServer, when: string): void {
  const d = deployment(server);
  assert.deepEqual(
    d.spec.strategy,
    { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    `${when}: the strategy is not the user's (maxSurge 25%, maxUnavailable 25%) again`,
  );
  assert.equal(
    d.metadata.annotations?.[DEPLOYMENT_ROLL_ANNOTATION],
    undefined,
    `${when}: the roll annotation is still there`,
  );
}

/** started is shop/web at 2 pods, its provider started (polling the rollout every 50 ms). */
async function started(t: TestContext, options: Partial<KubernetesProviderOptions> = {}) {
  const out = await webOnKube(t, 2, { options: { rolloutPoll: 50, ...options } });
  await out.provider.start();
  await out.provider.scaleTo(2);
  return out;
}

describe('kubernetes provider: a Deployment resize and the strategy', () => {
  it("rolls with maxSurge 1, maxUnavailable 0 and writes the user's 25%/25% back once the rollout is complete", async (t) => {
    // Before, the resize left maxSurge 1, maxUnavailable 0 in the Deployment for good.
    const { server, provider } = await started(t);
    server.readyHistory.length = 0;
    await provider.resize({ cpu: 0.5 });
    const first = resizePatches(server)[0] as { spec: { strategy?: unknown } };
    assert.deepEqual(
      first.spec.strategy,
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      'the roll is not made with a surge pod',
    );
    assert.ok(
      Math.min(...server.readyHistory) >= 2,
      `ready pods went down to ${Math.min(...server.readyHistory)}`,
    );
    assertUserStrategy(server, 'after the resize');
    assert.deepEqual(
      provider.instances().map((i) => i.size?.cpu),
      [0.5, 0.5],
      'the pods run the new size',
    );
  });

  it("writes the user's strategy back with the previous resources when the resize fails", async (t) => {
    const { server, provider } = await started(t, { timeout: 1500 });
    server.podsBecomeReady = false;
    const err = await settled(provider.resize({ cpu: 0.25, memory: 32 * MIB }));
    assert.ok(err instanceof ProviderError, `the resize did not fail: ${String(err)}`);
    assert.match(err.message, /resize reverted/, 'the error says the resize was undone');
    assertUserStrategy(server, 'after the failed resize');
  });

  it('a controller closed mid-roll: its successor waits for the rollout and writes the strategy back', async (t) => {
    // Pods take 400 ms to be Ready: the first controller closes while the surge pod starts.
    const server = new KubeServer({ podReadyMs: 400 });
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 2);
    const make = (token: string) => {
      const p = new KubernetesProvider({
        group: 'web',
        config: WEB_DEPLOYMENT,
        minInstances: 1,
        maxInstances: 5,
        client: { kubeConfig: kubeConfig(server.url, token) },
        rewatchDelay: 50,
        rolloutPoll: 50,
        timeout: 15_000,
      });
      t.after(() => p.close());
      return p;
    };
    const first = make('first');
    await first.start();
    await first.scaleTo(2);
    const resizing = settled(first.resize({ cpu: 0.5 }));
    await until(() => resizePatches(server).length === 1, 5000, "the resize's PATCH");
    await first.close();
    const err = await resizing;
    assert.equal(err?.code, 'CLOSED', `the first controller's resize ended ${String(err)}`);
    assert.ok(
      deployment(server).metadata.annotations?.[DEPLOYMENT_ROLL_ANNOTATION],
      'the closed controller left no note of the roll for its successor',
    );
    const second = make('second');
    await second.start();
    const resumed = second.resumedResize();
    assert.ok(resumed, 'the successor did not take the unfinished roll up');
    await resumed;
    assertUserStrategy(server, "after the successor's end of the roll");
    await until(
      () => second.instances().length === 2 && second.instances().every((i) => i.size?.cpu === 0.5),
      10_000,
      'the pods at the new size',
    );
  });

  it("a successor's resize takes over the unfinished roll at once, and the strategy is still the user's after", async (t) => {
    // The first controller's size never gets Ready; the successor's resize fixes it without
    // waiting for that roll's timeout.
    const server = new KubeServer();
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 2);
    const make = (token: string) => {
      const p = new KubernetesProvider({
        group: 'web',
        config: WEB_DEPLOYMENT,
        minInstances: 1,
        maxInstances: 5,
        client: { kubeConfig: kubeConfig(server.url, token) },
        rewatchDelay: 50,
        rolloutPoll: 50,
        timeout: 15_000,
      });
      t.after(() => p.close());
      return p;
    };
    const first = make('first');
    await first.start();
    await first.scaleTo(2);
    server.podsBecomeReady = false;
    const resizing = settled(first.resize({ memory: 16 * MIB }));
    await until(
      () =>
        [...server.pods.values()].some(
          (p) =>
            p.status?.podIP && p.status.conditions?.some((c: { status: string }) => c.status === 'False'),
        ),
      5000,
      'the surge pod at the new size started, not Ready',
    );
    await first.close();
    await resizing;
    server.podsBecomeReady = true;
    const second = make('second');
    await second.start();
    const resumed = second.resumedResize();
    assert.ok(resumed, 'the successor did not take the unfinished roll up');
    const began = performance.now();
    await second.resize({ memory: 256 * MIB });
    t.diagnostic(`the successor's resize took ${Math.round(performance.now() - began)} ms`);
    const err = await settled(resumed);
    assert.equal(err?.code, 'RESIZE_SUPERSEDED', `the unfinished roll ended ${String(err)}, not taken over`);
    assertUserStrategy(server, "after the successor's resize");
    assert.deepEqual(
      second.instances().map((i) => i.size?.memory),
      [256 * MIB, 256 * MIB],
      "the pods run the successor's size",
    );
  });

  it('a Recreate Deployment keeps its strategy: no surge pod, the pods replaced all at once', async (t) => {
    // Before, the resize switched it to RollingUpdate for good: a surge pod next to the old ones
    // (stuck when they hold a ReadWriteOnce volume), and every later rollout surged too.
    const { server, provider } = await webOnKube(t, 2, {
      arrange: (s) => {
        deployment(s).spec.strategy = { type: 'Recreate' };
      },
      options: { rolloutPoll: 50 },
    });
    await provider.start();
    await provider.scaleTo(2);
    let most = 0;
    provider.on('change', () => {
      most = Math.max(most, provider.instances().length);
    });
    await provider.resize({ memory: 128 * MIB });
    for (const body of resizePatches(server))
      assert.equal(
        (body as { spec?: { strategy?: unknown } }).spec?.strategy,
        undefined,
        `a PATCH changed the strategy: ${JSON.stringify(body)}`,
      );
    assert.deepEqual(
      deployment(server).spec.strategy,
      { type: 'Recreate' },
      'the strategy is no longer Recreate',
    );
    assert.equal(most, 2, `${most} pods at once: a surge pod was created`);
    assert.deepEqual(
      provider.instances().map((i) => i.size?.memory),
      [128 * MIB, 128 * MIB],
      'the pods run the new size',
    );
    assert.equal(
      deployment(server).metadata.annotations?.[DEPLOYMENT_ROLL_ANNOTATION],
      undefined,
      'the roll annotation is still there',
    );
  });
});

describe('kubernetes provider: a failed Deployment resize after a superseded one', () => {
  it('goes back to the size last fully rolled out, not to the superseded one that never was', async (t) => {
    // Before, the second resize wrote back the template as it found it: the first one's 500m, whose
    // pods had never become Ready, so the Deployment rolled to a size that never ran.
    const { server, provider } = await started(t, { timeout: 2000 });
    server.podsBecomeReady = false;
    const first = settled(provider.resize({ cpu: 0.5 }));
    await until(() => resizePatches(server).length === 1, 5000, "the first resize's PATCH");
    const err = await settled(provider.resize({ cpu: 0.25 }));
    assert.equal((await first)?.code, 'RESIZE_SUPERSEDED', 'the first resize was not superseded');
    assert.ok(err instanceof ProviderError, `the second resize did not fail: ${String(err)}`);
    assert.match(err.message, /resize reverted/, 'the error says the resize was undone');
    const resources = deployment(server).spec.template.spec.containers[0].resources;
    assert.ok(
      !resources?.limits && !resources?.requests,
      `the template holds ${JSON.stringify(resources)}, not the resources last rolled out (none)`,
    );
    assert.equal(provider.size(), undefined, 'the size in force is the one from before both resizes');
    assertUserStrategy(server, 'after the failed resize');
  });

  it('after a resize that rolled out, goes back to its size', async (t) => {
    const { server, provider } = await started(t, { timeout: 2000 });
    await provider.resize({ cpu: 0.5 });
    server.podsBecomeReady = false;
    const err = await settled(provider.resize({ cpu: 0.25 }));
    assert.match(String(err?.message), /resize reverted/, `the second resize ended ${String(err)}`);
    const resources = deployment(server).spec.template.spec.containers[0].resources;
    assert.deepEqual(
      resources,
      { limits: { cpu: '500m' }, requests: { cpu: '500m' } },
      'the template does not hold the size rolled out before',
    );
    assert.deepEqual(provider.size(), { cpu: 0.5 }, 'the size in force is the first resize');
  });
});
