// A scale-in drains the pods it removes before `spec.replicas` drops, as the local and AWS
// providers drain an instance before they stop it: Kubernetes sends a pod SIGTERM as it deletes it.
// A Deployment's pods are given the lowest controller.kubernetes.io/pod-deletion-cost first, so its
// ReplicaSet removes those drained; a StatefulSet removes its highest ordinals. Against KubeServer
// (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import type { Instance } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { type KubeServer, webOnKube } from './kube-server.js';

/** Drain is one call of the drain hook, with what the API server held as it began. */
interface Drain {
  id: string;
  /** The workload's `spec.replicas` then. */
  replicas: number;
  /** Whether the pod was terminating then. */
  terminating: boolean;
}

async function setup(
  t: TestContext,
  kind: 'Deployment' | 'StatefulSet',
  arrange?: (server: KubeServer) => void,
) {
  const drains: Drain[] = [];
  const warnings: string[] = [];
  const { server, provider } = await webOnKube(t, 3, {
    arrange: (server) => {
      if (kind === 'StatefulSet') {
        server.workloads.delete('shop/web');
        for (const name of [...server.pods.keys()]) server.pods.delete(name);
        server.addWorkload('StatefulSet', 'shop', 'web', 3);
      }
      arrange?.(server);
    },
    config: { kind },
    options: {
      drain: async (instance: Instance) => {
        const w = server.workloads.get('shop/web')!.object;
        drains.push({
          id: instance.id,
          replicas: w.spec.replicas,
          terminating: Boolean(server.pods.get(instance.id)?.metadata.deletionTimestamp),
        });
      },
      logger: { info() {}, warn: (_f: unknown, msg: string) => warnings.push(msg), error() {} },
    },
  });
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 3,
    5000,
    'the three pods of web Ready',
  );
  return { server, provider, drains, warnings };
}

/** gone lists which of `names` the server no longer has, or has terminating. */
function gone(server: KubeServer, names: readonly string[]): string[] {
  return names.filter((n) => !server.pods.has(n) || server.pods.get(n)!.metadata.deletionTimestamp).sort();
}

it('a Deployment scale-in drains the pods its ReplicaSet removes, before the replicas drop', async (t) => {
  const { server, provider, drains } = await setup(t, 'Deployment', (s) => {
    // Pods created in one instant: which goes is the ReplicaSet's to choose (its co-location rank,
    // restarts), here the other way round from a client's newest-first guess.
    s.scaleInTieBreak = 'oldest-name';
    const at = new Date().toISOString();
    for (const p of s.pods.values()) p.metadata.creationTimestamp = at;
  });
  const before = provider.instances().map((i) => i.id);
  await provider.scaleTo(1);
  const removed = gone(server, before);
  t.diagnostic(`drained ${drains.map((d) => d.id).join(', ')}; removed ${removed.join(', ')}`);
  assert.deepEqual(
    drains.map((d) => d.id).sort(),
    removed,
    `the pods drained are exactly those the ReplicaSet removed (drained: ${drains.map((d) => d.id).join(', ') || 'none'}; the others met SIGTERM with requests in flight)`,
  );
  for (const d of drains) {
    assert.equal(d.replicas, 3, `${d.id} was drained after spec.replicas dropped (${d.replicas})`);
    assert.equal(d.terminating, false, `${d.id} was already terminating when its drain began`);
    const cost = server.requests.find((r) => r.method === 'PATCH' && r.path.endsWith(`/pods/${d.id}`));
    assert.deepEqual(
      cost?.body,
      { metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '-2147483648' } } },
      `${d.id} was given the lowest pod-deletion-cost before the scale-in`,
    );
  }
  assert.equal(provider.instances().filter((i) => i.state === 'ready').length, 1);
});

it('a StatefulSet scale-in drains its highest ordinals before the replicas drop', async (t) => {
  const { server, provider, drains } = await setup(t, 'StatefulSet');
  await provider.scaleTo(1);
  assert.deepEqual(
    drains.map((d) => d.id).sort(),
    ['web-1', 'web-2'],
    'the highest ordinals, which the StatefulSet removes, are drained',
  );
  assert.deepEqual(gone(server, ['web-0', 'web-1', 'web-2']), ['web-1', 'web-2']);
  for (const d of drains) assert.equal(d.replicas, 3, `${d.id} was drained after spec.replicas dropped`);
  assert.ok(
    !server.requests.some((r) => r.method === 'PATCH' && r.path.includes('/pods/')),
    'no pod of a StatefulSet is annotated: its ordinals decide',
  );
});

it('without patch on pods the scale-in goes on undrained, warning what to grant', async (t) => {
  const { server, provider, drains, warnings } = await setup(t, 'Deployment', (s) => {
    s.forbid = (method, path) => method === 'PATCH' && path.startsWith('/api/v1/namespaces/shop/pods/');
  });
  await provider.scaleTo(2);
  assert.equal(drains.length, 0, 'no pod drained that the ReplicaSet might keep');
  assert.equal(server.workloads.get('shop/web')!.object.spec.replicas, 2, 'scaled in all the same');
  const warning = warnings.find((w) => w.includes('scale-in'));
  assert.match(warning ?? '', /403 Forbidden.*grant patch on pods/, `warning: ${warnings.join(' | ')}`);
});

it('a pod drained for a scale-in that failed serves again', async (t) => {
  const listings: string[][] = [];
  const { server, provider, drains } = await setup(t, 'Deployment', (s) => {
    s.forbid = (method, path) => method === 'PATCH' && path.endsWith('/deployments/web/scale');
  });
  provider.on('change', () => listings.push(provider.instances().map((i) => `${i.id}:${i.state}`)));
  await assert.rejects(provider.scaleTo(2), /patch scale failed: 403/);
  assert.equal(drains.length, 1);
  const victim = drains[0]!.id;
  assert.equal(server.workloads.get('shop/web')!.object.spec.replicas, 3);
  // Listed once as starting, then ready: the balancer's pool forgets the drained member and takes it anew.
  const i = listings.findIndex((l) => l.includes(`${victim}:starting`));
  assert.ok(i >= 0, `${victim} was never listed anew after the failed scale-in: ${JSON.stringify(listings)}`);
  assert.ok(
    listings.slice(i + 1).some((l) => l.includes(`${victim}:ready`)),
    `${victim} listed ready again after its return`,
  );
});

it('a scale-in superseded during its drain writes nothing over the later count', async (t) => {
  let release: () => void = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  let first = true;
  const { server, provider } = await webOnKube(t, 3, {
    options: {
      drain: async () => {
        // The first scale-in's drain holds (a long request in flight); later ones end at once.
        if (first) {
          first = false;
          await held;
        }
      },
    },
  });
  await provider.start();
  await until(
    () => provider.instances().filter((i) => i.state === 'ready').length === 3,
    5000,
    'the three pods of web Ready',
  );
  const toTwo = provider.scaleTo(2);
  await until(() => !first, 5000, 'the first scale-in draining');
  await provider.scaleTo(1);
  release();
  await toTwo;
  const replicas = server.workloads.get('shop/web')!.object.spec.replicas;
  assert.equal(
    replicas,
    1,
    `the later scale's count stands (spec.replicas ${replicas}: the earlier wrote 2 after it)`,
  );
  assert.equal(provider.desired(), 1);
});
