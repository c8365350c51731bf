// A StatefulSet roll that a successor finds half-done (annotation scaleplane.io/resize-roll) and
// finishes in the background: fenced like every change of a leader, and journaled and alerted like
// a resize asked through the API. The Kubernetes provider drives the official client over real HTTP
// against KubeServer (kube-server.ts: no cluster runs on these machines).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { AlertManager, alertKeys, watchForAlerts } from '../../src/alerts/index.js';
import { DecisionJournal, GroupController, type JournalEntry } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { FencedProvider, type KubernetesProvider, type OperationOutcome } from '../../src/providers/index.js';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { until } from '../helpers/until.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from './kube-server.js';
import { stsProvider } from './sts-fixture.js';

const silent = { info() {}, warn() {}, error() {} };
/** The container's resources before the resize the first controller leaves half-done. */
const BEFORE = { limits: { cpu: '500m' }, requests: { cpu: '500m' } };

function provider(server: KubeServer, extra: { fence?: (what: string) => Promise<void> } = {}) {
  return stsProvider(server, { timeout: 1500, ...extra });
}

/**
 * halfDone is shop/web, a StatefulSet of 2 Ready pods at BEFORE with the user's partition 1, whose
 * resize to 250m a controller left once the template was stored behind the partition (it closed).
 */
async function halfDone(t: TestContext) {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload('StatefulSet', 'shop', 'web', 2);
  const first = provider(server);
  t.after(() => first.close());
  await first.start();
  await first.resize({ cpu: 0.5 });
  const sts = server.workloads.get('shop/web')!.object;
  sts.spec.updateStrategy.rollingUpdate.partition = 1;
  const cut = first.resize({ cpu: 0.25 }, { onSizeSaved: (write) => void write.then(() => first.close()) });
  await assert.rejects(cut, { code: 'CLOSED' });
  assert.ok(sts.metadata.annotations?.[ROLL_ANNOTATION], 'the roll is left half-done');
  // Before, the closed controller still wrote its extra replica (3) after it was closed.
  assert.equal(sts.spec.replicas, 2, 'a closed controller wrote the extra replica');
  return { server, sts };
}

/** writes are the StatefulSet's PATCHes (the object and its scale) since request `from`. */
function writes(server: KubeServer, from: number) {
  return server.requests
    .slice(from)
    .filter((r) => r.method === 'PATCH' && /\/statefulsets\/web(\/scale)?$/.test(r.path))
    .map((r) => `${r.path.endsWith('/scale') ? 'scale' : 'sts'} ${JSON.stringify(r.body)}`);
}

describe('a resumed StatefulSet roll: fencing', () => {
  it('a successor deposed while it resumes the roll writes nothing more and leaves the roll to the next leader, who reverts it', async (t) => {
    const { server, sts } = await halfDone(t);
    server.podsBecomeReady = false;
    let token = 7;
    const fenced: FencedProvider = new FencedProvider(
      provider(server, { fence: (what) => fenced.assertLeading(what) }),
      async (held) => held === token,
    );
    t.after(() => fenced.close());
    fenced.setToken(7);
    const errors: Error[] = [];
    fenced.on('error', (err) => errors.push(err));
    await fenced.start();
    const roll = fenced.resumedResize();
    assert.ok(roll, 'no roll resumed');
    // The extra replica is written under the lease; then another controller takes the lease.
    await until(() => sts.spec.replicas === 3, 10_000, 'the extra replica');
    token = 8;
    const from = server.requests.length;
    // Before: once its extra pod was not Ready in time, the deposed controller wrote the previous
    // resources back, scaled to 2 and restored the partition, under the new leader's feet.
    await assert.rejects(roll, { code: 'FENCED' });
    assert.deepEqual(writes(server, from), []);
    assert.equal(sts.spec.replicas, 3);
    assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 2);
    assert.deepEqual(JSON.parse(sts.metadata.annotations[ROLL_ANNOTATION]), {
      partition: 1,
      replicas: 2,
      previous: { app: BEFORE },
      written: { cpu: '250m' },
    });
    // Stopped, not failed: nothing on `error` for the app to log as a failure.
    assert.deepEqual(errors, []);

    // The next leader finds the annotation and reverts, as any successor does.
    const next = provider(server);
    t.after(() => next.close());
    next.on('error', () => {});
    await next.start();
    await assert.rejects(next.resumedResize()!, { code: 'RESIZE_FAILED' });
    assert.deepEqual(sts.spec.template.spec.containers[0].resources, BEFORE);
    assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 1);
    assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined);
    assert.equal(sts.spec.replicas, 2);
  });

  it('FencedProvider passes `operation` on, so the provider alert and metric see a fenced group', async (t) => {
    const server = new KubeServer();
    await server.start();
    t.after(() => server.close());
    server.addWorkload('StatefulSet', 'shop', 'web', 1);
    const fenced = new FencedProvider(provider(server), async () => true);
    t.after(() => fenced.close());
    const seen: string[] = [];
    fenced.on('operation', (o: OperationOutcome) => seen.push(o.operation));
    await fenced.start();
    assert.ok(seen.includes('read workload'), `operations seen: ${seen.join(', ')}`);
  });
});

describe('a resumed StatefulSet roll: journal and alert', () => {
  /** group runs GroupController over a successor's provider, with the journal watched for alerts. */
  async function group(t: TestContext, server: KubeServer) {
    const successor = provider(server);
    t.after(() => successor.close());
    successor.on('error', () => {});
    const journal = new DecisionJournal();
    const alerts = new AlertManager();
    t.after(() => alerts.close());
    watchForAlerts(alerts, { providers: new Map([['web', successor]]), journal });
    const controller = new GroupController({
      config: groupConfig({ provider: { ...WEB_DEPLOYMENT, kind: 'StatefulSet' } as never }),
      provider: successor,
      journal,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: () => [],
    });
    const ended = new Promise<JournalEntry>((resolve) =>
      journal.on('entry', (e) => {
        if (e.reasons.includes('ResizeFailed') || e.reasons.includes('ResizeFinished')) resolve(e);
      }),
    );
    void controller.start(0).catch(() => {});
    return { journal, alerts, ended };
  }

  it('a roll that fails is journaled (ResizeResumed, then ResizeFailed with its code) and fires resize:<group>', async (t) => {
    const { server } = await halfDone(t);
    server.podsBecomeReady = false;
    const { journal, alerts, ended } = await group(t, server);
    const entry = await ended;
    // Before: no entry at all; the failure went to the provider's `error` event, which is logged.
    const reasons = journal
      .entries({ group: 'web' })
      .sort((a, b) => a.seq - b.seq)
      .flatMap((e) => e.reasons)
      .filter((r) => r.startsWith('Resize'));
    assert.deepEqual(reasons, ['ResizeResumed', 'ResizeFailed']);
    assert.deepEqual(entry.reasons, ['ResizeFailed']);
    assert.equal(entry.source, 'startup');
    assert.equal(entry.inputs.code, 'RESIZE_FAILED');
    assert.match(entry.message, /^resumed resize failed: .*resize reverted/);
    assert.equal(entry.after, 2);
    assert.ok(alerts.isFiring(alertKeys.resize('web')), 'resize:web not firing');
  });

  it('a roll that finishes is journaled ResizeFinished and fires nothing', async (t) => {
    const { server, sts } = await halfDone(t);
    const { journal, alerts, ended } = await group(t, server);
    const entry = await ended;
    assert.deepEqual(entry.reasons, ['ResizeFinished']);
    assert.ok(
      journal.entries({ group: 'web' }).some((e) => e.reasons.includes('ResizeResumed')),
      "journal.entries({ group: 'web' }).some((e) => e.reasons.includes('ResizeResumed'))",
    );
    assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined);
    assert.equal(alerts.isFiring(alertKeys.resize('web')), false);
    assert.equal(entry.inputs.error, undefined);
  });
});

describe('a resumed StatefulSet roll: replicas set by another client (kubectl scale)', () => {
  /** kubectlScale sets shop/web's replicas as `kubectl scale` does: a merge patch of the scale subresource. */
  function kubectlScale(server: KubeServer, replicas: number) {
    const apps = kubeConfig(server.url).makeApiClient(k8s.AppsV1Api);
    return apps.patchNamespacedStatefulSetScale(
      { name: 'web', namespace: 'shop', body: { spec: { replicas } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  /** rolled says the roll is over with `replicas` pods, every one Ready at 250m, and partition 1 restored. */
  async function rolled(server: KubeServer, successor: KubernetesProvider, replicas: number) {
    const sts = server.workloads.get('shop/web')!.object;
    await until(
      () =>
        successor.instances().length === replicas &&
        successor.instances().every((i) => i.state === 'ready' && i.size?.cpu === 0.25),
      10_000,
      `${replicas} pods Ready at 250m`,
    );
    assert.equal(sts.spec.replicas, replicas);
    assert.equal(successor.desired(), replicas);
    assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 1);
    assert.equal(sts.metadata.annotations?.[ROLL_ANNOTATION], undefined);
  }

  it('scaled while no controller ran: the successor rolls from their count and ends there', async (t) => {
    const { server, sts } = await halfDone(t);
    await kubectlScale(server, 4);
    const successor = provider(server);
    t.after(() => successor.close());
    await successor.start();
    assert.equal(successor.desired(), 4);
    const from = server.requests.length;
    // Before: the successor wrote 3 (the noted 2 and its extra one) over the 4, then 2.
    await successor.resumedResize();
    const made = writes(server, from);
    // The annotation and the partition follow the 4 first, at the resourceVersion read (see
    // #rebaseRoll); the extra replica comes on top of them.
    assert.match(made[0] ?? '', /,"resourceVersion":"\d+"\},"spec"/);
    assert.deepEqual(
      [made[0]?.replace(/,"resourceVersion":"\d+"/, '')],
      [
        `sts ${JSON.stringify({
          metadata: {
            annotations: {
              [ROLL_ANNOTATION]: JSON.stringify({
                partition: 1,
                replicas: 4,
                previous: { app: BEFORE },
                written: { cpu: '250m' },
              }),
            },
          },
          spec: { updateStrategy: { rollingUpdate: { partition: 4 } } },
        })}`,
      ],
    );
    // At the resourceVersion of the scale read (see #surgeAtRead).
    assert.match(made[1] ?? '', /^scale \{"metadata":\{"resourceVersion":"\d+"\},"spec":\{"replicas":5\}\}$/);
    assert.ok(!made.some((w) => /^scale .*"spec":\{"replicas":[23]\}\}$/.test(w)), made.join('\n'));
    await rolled(server, successor, 4);
    assert.equal(sts.spec.replicas, 4);
  });

  it('scaled while the successor holds the extra replica: their count stands, nothing is given back over it', async (t) => {
    const { server } = await halfDone(t);
    let scaled: Promise<void> | undefined;
    // Scaled to 5 as the partition is lowered: the extra replica (3) is in place, the roll not over.
    server.hold = (method, path) => {
      if (method !== 'PATCH' || !path.endsWith('/statefulsets/web') || scaled) return undefined;
      scaled = kubectlScale(server, 5).then(() => {});
      return scaled;
    };
    const successor = provider(server);
    t.after(() => successor.close());
    await successor.start();
    // Before: the roll gave back its replica by writing 2 over the 5.
    await successor.resumedResize();
    assert.ok(scaled, 'the partition was never lowered');
    await rolled(server, successor, 5);
  });
});
