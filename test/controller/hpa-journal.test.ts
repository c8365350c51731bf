// In `mode: hpa` the Kubernetes HPA scales the workload and Scaleplane only watches. Its changes
// were journaled not at all: `scaleplane events` showed the start, then nothing, while `status`
// showed the count move. Now each change is journaled (source provider) with what the HPA's own
// status says, as `kubectl describe hpa` shows it: its metrics against their targets and its
// conditions. The fake API server plays the HPA controller (scale first, status just after, as
// horizontal.go writes them); the provider reads the HPA with the official client over real HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { Config } from '../../src/config/types.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  type JournalEntry,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { KubernetesProvider } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { until } from '../helpers/until.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from '../providers/kube-server.js';

const silent = { info() {}, warn() {}, error() {} };

/** The HPA controller's status after a sync that scaled from `current` to `desired` at `cpu` %. */
function hpaStatus(
  current: number,
  desired: number,
  cpu: number,
  limited: { status: string; reason: string },
) {
  return {
    currentReplicas: current,
    desiredReplicas: desired,
    lastScaleTime: '2026-11-30T08:00:00Z',
    currentMetrics: [
      {
        type: 'Resource',
        resource: { name: 'cpu', current: { averageUtilization: cpu, averageValue: '450m' } },
      },
    ],
    conditions: [
      {
        type: 'AbleToScale',
        status: 'True',
        reason: 'SucceededRescale',
        message: `the HPA controller was able to update the target scale to ${desired}`,
      },
      {
        type: 'ScalingActive',
        status: 'True',
        reason: 'ValidMetricFound',
        message: 'the HPA was able to successfully calculate a replica count from cpu resource utilization',
      },
      { type: 'ScalingLimited', ...limited, message: 'limited' },
    ],
  };
}

describe('mode hpa: the HPA’s scaling in the journal', () => {
  it('journals each change with the HPA’s figures and conditions, and a count another client set as such', async (t) => {
    const server = new KubeServer();
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 2);
    const provider = new KubernetesProvider({
      group: 'web',
      config: { ...WEB_DEPLOYMENT, mode: 'hpa' },
      minInstances: 2,
      maxInstances: 5,
      cpuTarget: 50,
      client: { kubeConfig: kubeConfig(server.url, 'scaleplane') },
      rewatchDelay: 50,
      replicasReadInterval: 100,
      timeout: 15_000,
      logger: silent,
    });
    t.after(() => provider.close());
    const journal = new DecisionJournal();
    const config = groupConfig({ name: 'web', minInstances: 2, maxInstances: 5 });
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
    assert.equal(server.hpas.size, 1, 'start wrote the HPA');
    assert.deepEqual(controller.tick(), [], 'nothing scaled yet');

    // The HPA controller's sync: the scale subresource, then the HPA's status.
    const hpaController = kubeConfig(server.url, 'hpa-controller').makeApiClient(k8s.AppsV1Api);
    const scale = (replicas: number) =>
      hpaController.patchNamespacedDeploymentScale(
        { name: 'web', namespace: 'shop', body: { spec: { replicas } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    const nextEntries = async (what: string) => {
      let entries: JournalEntry[] = [];
      await until(
        () => {
          entries = controller.tick();
          return entries.length > 0;
        },
        5000,
        what,
      );
      return entries;
    };

    await scale(4);
    await until(() => provider.desired() === 4, 5000, 'desired() follows the HPA');
    assert.deepEqual(
      controller.tick(),
      [],
      'not journaled before the HPA’s status says why (it is written after the scale)',
    );
    server.hpas.get('shop/web')!.status = hpaStatus(2, 4, 90, {
      status: 'False',
      reason: 'DesiredWithinRange',
    });
    const up = await nextEntries('the 2 → 4 journaled');
    assert.deepEqual(
      up.map((e) => [e.source, e.before, e.after, e.reasons.join()]),
      [['provider', 2, 4, 'SuccessfulRescale,AboveTarget,DesiredWithinRange']],
      'the HPA’s 2 → 4 must be journaled with why',
    );
    assert.deepEqual(
      up[0]!.inputs.metrics,
      [{ name: 'cpu', current: 90, target: 50, unit: '%' }],
      'the figures the HPA went by',
    );
    assert.equal(up[0]!.inputs.hpaDesired, 4, 'the HPA’s desiredReplicas');
    assert.match(
      up[0]!.message,
      /^2 → 4 by HorizontalPodAutoscaler shop\/web: cpu 90% of requests against a target of 50%/,
    );
    assert.deepEqual(controller.tick(), [], 'journaled once');

    // A sync held at maxReplicas: the status is there before this controller reads it.
    server.hpas.get('shop/web')!.status = hpaStatus(4, 5, 180, { status: 'True', reason: 'TooManyReplicas' });
    await scale(5);
    const capped = await nextEntries('the 4 → 5 journaled');
    assert.deepEqual(
      capped.map((e) => [e.before, e.after, e.reasons.join()]),
      [[4, 5, 'SuccessfulRescale,AboveTarget,TooManyReplicas']],
      'the limit the HPA hit is named',
    );

    // `kubectl scale` by an operator: the HPA's status still says 5; not the HPA's doing.
    await scale(3);
    const elsewhere = await nextEntries('the 5 → 3 journaled');
    assert.deepEqual(
      elsewhere.map((e) => [e.before, e.after, e.reasons.join(), e.inputs.hpaDesired]),
      [[5, 3, 'DesiredChangedElsewhere', 5]],
      'a count the HPA did not set must not be given its reasons',
    );
  });
});
