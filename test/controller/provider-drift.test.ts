// A count another client sets on the engine (kubectl scale, the AWS console, a scheduled action)
// is followed by the Kubernetes and AWS providers into desired(), and the controller decides from
// it. Before, only the provider's log said so: the journal went from `2 → 3` straight to the next
// decision from 6, with nothing between, and the state store kept 3 as the group's count, so a
// restart or a new leader scaled the group the operator had set to 6 back to 3.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { Config } from '../../src/config/types.js';
import {
  Controller,
  DecisionJournal,
  FileState,
  GroupController,
  persistDecisions,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { KubernetesProvider } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { until } from '../helpers/until.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from '../providers/kube-server.js';

const silent = { info() {}, warn() {}, error() {} };

/** EngineProvider is a MemoryProvider whose engine another client may scale (`setElsewhere`). */
class EngineProvider extends MemoryProvider {
  /** Another client scales the workload; the provider follows it, as the real ones do. */
  setElsewhere(n: number): Promise<void> {
    return super.scaleTo(n);
  }
}

describe('a count set on the engine by another client', () => {
  it('is journaled (source provider), persisted, and neither repeated nor mistaken for our own calls', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-drift-'));
    const state = new FileState({ path: join(dir, 'state.json') });
    const journal = new DecisionJournal();
    const stop = persistDecisions(
      journal,
      state,
      () => true,
      (err) => assert.fail(String(err)),
    );
    t.after(async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    });
    const provider = new EngineProvider('web');
    // Scaled by hand: no policy decision would ever journal the count again.
    const config = groupConfig({ name: 'web', maxInstances: 10 });
    const group = new GroupController({
      config,
      provider,
      journal,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: () => [],
    });
    let now = 1_000;
    const controller = new Controller({
      config: { controller: { interval: 60_000 }, groups: { web: config } } as unknown as Config,
      groups: [group],
      journal,
      logger: silent,
      backends: () => [],
      now: () => now,
    });
    await controller.start({ web: 2 });
    controller.close();
    controller.scale('web', 'set', 3, 'ops');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(controller.tick(), [], 'our own changes are not someone else’s');

    await provider.setElsewhere(6);
    now += 1_000;
    const followed = controller.tick();
    assert.deepEqual(
      followed.map((e) => [e.source, e.before, e.after, e.reasons.join()]),
      [['provider', 3, 6, 'DesiredChangedElsewhere']],
      'kubectl scale 3 → 6 must be journaled, once',
    );
    assert.match(followed[0]!.message, /^3 → 6: set on the memory engine by another client/);
    now += 1_000;
    assert.deepEqual(controller.tick(), [], 'the same change is journaled once, not every tick');

    await stop();
    const saved = await state.load();
    assert.equal(saved.desired.web, 6, 'the state store must keep the count that runs, not 3');
  });

  it('kubectl scale on a Deployment (official client, real HTTP): journaled as the provider follows it', async (t) => {
    const server = new KubeServer();
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 2);
    const provider = new KubernetesProvider({
      group: 'web',
      config: WEB_DEPLOYMENT,
      minInstances: 1,
      maxInstances: 6,
      client: { kubeConfig: kubeConfig(server.url, 'leader') },
      rewatchDelay: 50,
      replicasReadInterval: 20,
      timeout: 15_000,
      logger: silent,
    });
    t.after(() => provider.close());
    const journal = new DecisionJournal();
    const config = groupConfig({ name: 'web', maxInstances: 6 });
    const group = new GroupController({
      config,
      provider,
      journal,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: () => [],
    });
    const controller = new Controller({
      config: { controller: { interval: 60_000 }, groups: { web: config } } as unknown as Config,
      groups: [group],
      journal,
      logger: silent,
      backends: () => [],
    });
    await controller.start();
    controller.close();
    await until(
      () => provider.instances().filter((i) => i.state === 'ready').length === 2,
      5000,
      '2 Ready pods',
    );
    assert.deepEqual(controller.tick(), [], 'nothing changed elsewhere yet');

    // `kubectl scale --replicas=4` by another client (its own token).
    const apps = kubeConfig(server.url, 'operator').makeApiClient(k8s.AppsV1Api);
    await apps.patchNamespacedDeploymentScale(
      { name: 'web', namespace: 'shop', body: { spec: { replicas: 4 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await until(() => provider.desired() === 4, 5000, 'desired() follows the other client');
    const followed = controller.tick();
    assert.deepEqual(
      followed.map((e) => [e.source, e.before, e.after, e.reasons.join()]),
      [['provider', 2, 4, 'DesiredChangedElsewhere']],
      'the journal must say why the Deployment went from 2 to 4',
    );
    assert.match(followed[0]!.message, /^2 → 4: set on the kubernetes engine by another client/);
  });
});
