// A config reload that changes min/max_instances of a `mode: hpa` group: the controller takes the new
// bounds at once, and the HPA Scaleplane wrote must follow (minReplicas/maxReplicas), or Kubernetes
// keeps scaling inside the old ones: a raised max_instances is never reached, and a count fitted to a
// lowered one is taken straight back. Controller + KubernetesProvider against KubeServer
// (kube-server.ts), through the official client over real HTTP. The fake plays no HPA controller:
// what is checked is what the API server stores, and in which order the writes reach it.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import type { Config, GroupConfig, KubernetesProviderConfig } from '../../src/config/types.js';
import { Controller, DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { KubernetesProvider, type KubernetesProviderOptions } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { until } from '../helpers/until.js';
import { KubeServer, kubeConfig, webOnKube } from './kube-server.js';

const silent = { info() {}, warn() {}, error() {} };

/**
 * leading runs a controller leading group `web`, Deployment shop/web of `replicas` pods, min..max,
 * once the provider holds `startsAt` replicas (by default `replicas`; the start's fit into min..max
 * when they are outside).
 */
async function leading(
  t: TestContext,
  mode: 'hpa' | 'controller',
  replicas: number,
  min: number,
  max: number,
  startsAt = replicas,
) {
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload('Deployment', 'shop', 'web', replicas);
  const config: KubernetesProviderConfig = {
    provider: 'kubernetes',
    namespace: 'shop',
    name: 'web',
    kind: 'Deployment',
    port: 8080,
    mode,
  };
  const errors: string[] = [];
  /** The provider's and controller's info and warn lines with their `reason`, as `reason: message`. */
  const notes: string[] = [];
  const note = (f: unknown, msg: string) => notes.push(`${(f as { reason?: string }).reason}: ${msg}`);
  const logger = { info: note, warn: note, error: (_f: unknown, msg: string) => errors.push(msg) };
  const provider = new KubernetesProvider({
    group: 'web',
    config,
    minInstances: min,
    maxInstances: max,
    cpuTarget: 60,
    client: { kubeConfig: kubeConfig(server.url) },
    drain: async () => {},
    logger,
  });
  t.after(() => provider.close());
  const journal = new DecisionJournal();
  const web = groupConfig({
    name: 'web',
    minInstances: min,
    maxInstances: max,
    initialInstances: min,
    provider: config,
  });
  const group = new GroupController({
    config: web,
    provider,
    journal,
    metrics: createMetrics({ defaultMetrics: false }),
    logger,
    readMetrics: () => [],
  });
  const whole = { controller: { interval: 60_000 }, groups: { web } } as unknown as Config;
  const controller = new Controller({
    config: whole,
    groups: [group],
    journal,
    logger: silent,
    backends: () => [],
  });
  await controller.start();
  t.after(() => controller.close());
  await until(() => provider.desired() === startsAt, 5000, `web at ${startsAt} replicas after the start`);
  const startedAt = server.requests.length;
  const reload = (bounds: Partial<Pick<GroupConfig, 'minInstances' | 'maxInstances' | 'scaling'>>) =>
    controller.reconfigure(
      { ...whole, groups: { web: { ...web, ...bounds } } },
      { by: 'SIGHUP', changes: ['groups.web.min_instances', 'groups.web.max_instances'] },
    );
  /**
   * writes lists what the reload wrote (`from` 0: the start too), in order: the HPA's bounds
   * (`hpa 1..4`) and the scale (`scale 2`).
   */
  const writes = (from = startedAt) =>
    server.requests.slice(from).flatMap((r) => {
      const body = r.body as { spec?: { minReplicas?: number; maxReplicas?: number; replicas?: number } };
      if (r.path.includes('/horizontalpodautoscalers') && r.method !== 'GET')
        return [`hpa ${body.spec?.minReplicas}..${body.spec?.maxReplicas}`];
      if (r.path.endsWith('/deployments/web/scale') && r.method === 'PATCH')
        return [`scale ${body.spec?.replicas}`];
      return [];
    });
  const stored = () => {
    const spec = server.hpas.get('shop/web')?.spec;
    return spec ? `${spec.minReplicas}..${spec.maxReplicas}` : 'none';
  };
  const replicasNow = () => server.workloads.get('shop/web')!.object.spec.replicas as number;
  /** settled waits until the HPA stores `bounds` and the workload has `n` replicas (or says what it has). */
  const settled = (bounds: string, n: number) =>
    until(
      () => stored() === bounds && replicasNow() === n && provider.desired() === n,
      5000,
      `HPA ${bounds} and ${n} replicas`,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message} — HPA ${stored()}, replicas ${replicasNow()}, writes: ${writes().join(', ') || 'none'}`,
      );
    });
  return { server, provider, reload, writes, stored, settled, errors, notes, replicasNow };
}

describe('kubernetes provider, mode hpa: min/max_instances changed by a config reload', {
  timeout: 60_000,
}, () => {
  it('max_instances raised from 5 to 8, min_instances 1 to 2: the HPA stores 2..8', async (t) => {
    const { reload, writes, stored, settled, errors } = await leading(t, 'hpa', 3, 1, 5);
    assert.equal(stored(), '1..5', 'the HPA as start wrote it');
    reload({ minInstances: 2, maxInstances: 8 });
    await settled('2..8', 3);
    console.log(`reload 1..5 -> 2..8 at 3 replicas: HPA ${stored()}; writes: ${writes().join(', ')}`);
    assert.deepEqual(writes(), ['hpa 2..8'], 'one write of the bounds, no scale (3 fits)');
    assert.deepEqual(errors, [], 'nothing failed');
  });

  it('max_instances lowered below the replicas: the drained scale-in is made first, then maxReplicas comes down', async (t) => {
    const { reload, writes, stored, settled, errors } = await leading(t, 'hpa', 4, 1, 5);
    reload({ minInstances: 1, maxInstances: 2 });
    await settled('1..2', 2);
    console.log(`reload 1..5 -> 1..2 at 4 replicas: HPA ${stored()}; writes: ${writes().join(', ')}`);
    // maxReplicas 2 before the scale would have the HPA delete 2 pods at its next sync, undrained.
    assert.deepEqual(
      writes(),
      ['hpa 1..4', 'scale 2', 'hpa 1..2'],
      'widened to hold the 4 replicas, the drained scale-in, then closed in',
    );
    assert.deepEqual(errors, [], 'nothing failed');
  });

  it('min_instances raised above the replicas: the scale-out, then minReplicas goes up', async (t) => {
    const { reload, writes, stored, settled, errors } = await leading(t, 'hpa', 2, 1, 5);
    reload({ minInstances: 4, maxInstances: 6 });
    await settled('4..6', 4);
    console.log(`reload 1..5 -> 4..6 at 2 replicas: HPA ${stored()}; writes: ${writes().join(', ')}`);
    assert.deepEqual(
      writes(),
      ['hpa 2..6', 'scale 4', 'hpa 4..6'],
      "Scaleplane's scale, not the HPA's, makes the 4",
    );
    assert.deepEqual(errors, [], 'nothing failed');
  });

  it('what else the HPA holds is kept: an annotation set since start', async (t) => {
    const { server, reload, settled } = await leading(t, 'hpa', 3, 1, 5);
    server.hpas.get('shop/web')!.metadata.annotations = { team: 'shop' };
    reload({ minInstances: 1, maxInstances: 7 });
    await settled('1..7', 3);
    const hpa = server.hpas.get('shop/web')!;
    assert.deepEqual(hpa.metadata.annotations, { team: 'shop' }, 'the annotation kept');
  });

  it('a reload that also changes scaling writes the cpu target and behavior with the bounds, in one write', async (t) => {
    const { server, reload, writes, settled } = await leading(t, 'hpa', 3, 1, 5);
    const parsed = parseConfig(
      [
        'groups:',
        '  web:',
        '    provider: kubernetes',
        '    namespace: shop',
        '    name: web',
        '    mode: hpa',
        '    max_instances: 6',
        '    scaling:',
        '      metrics:',
        '        - cpu: { target: 75 }',
        '      behavior:',
        '        scale_down: { stabilization_window: 120s }',
        '',
      ].join('\n'),
      { baseDir: '/srv/app' },
    );
    reload({ minInstances: 1, maxInstances: 6, scaling: parsed.groups.web!.scaling });
    await settled('1..6', 3);
    await until(
      () => server.hpas.get('shop/web')!.spec.metrics[0].resource.target.averageUtilization === 75,
      5000,
      'cpu target 75',
    ).catch((err: Error) => {
      throw new Error(
        `${err.message} — stored target ${server.hpas.get('shop/web')!.spec.metrics[0].resource.target.averageUtilization}`,
      );
    });
    const spec = server.hpas.get('shop/web')!.spec;
    console.log(
      `reload target 60 -> 75, window 120s: HPA target ${spec.metrics[0].resource.target.averageUtilization}, behavior ${JSON.stringify(spec.behavior)}; writes: ${writes().join(', ')}`,
    );
    assert.deepEqual(
      spec.behavior,
      { scaleDown: { stabilizationWindowSeconds: 120 } },
      'the behavior written',
    );
    assert.deepEqual(writes(), ['hpa 1..6'], 'one write');
  });

  it('a 409 Conflict (the HPA controller wrote its status meanwhile) reads again and writes', async (t) => {
    const { server, reload, settled } = await leading(t, 'hpa', 3, 1, 5);
    server.hpaStatusWrites = 2;
    reload({ minInstances: 1, maxInstances: 6 });
    await settled('1..6', 3);
  });

  it('a standby keeps the bounds for its start', async (t) => {
    const server = new KubeServer();
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 3);
    const provider = new KubernetesProvider({
      group: 'web',
      config: {
        provider: 'kubernetes',
        namespace: 'shop',
        name: 'web',
        kind: 'Deployment',
        port: 8080,
        mode: 'hpa',
      },
      minInstances: 1,
      maxInstances: 5,
      client: { kubeConfig: kubeConfig(server.url) },
    });
    t.after(() => provider.close());
    await provider.observe();
    await provider.setBounds(2, 7);
    assert.equal(server.hpas.size, 0, 'a standby writes no HPA');
    await provider.start();
    const spec = server.hpas.get('shop/web')?.spec;
    assert.deepEqual(
      [spec?.minReplicas, spec?.maxReplicas],
      [2, 7],
      'start writes the bounds set while standing by',
    );
  });
});

// The start writes the HPA widened to hold the replicas it finds, as a reload does: the HPA brings
// replicas outside its bounds inside at its next sync, undrained, and Scaleplane's own fit (drained)
// comes after the start's write. Before, the start wrote min/max_instances as configured (`hpa 1..4`
// at 6 replicas), which left the HPA to delete 2 undrained pods before the drained scale-in.
describe('kubernetes provider, mode hpa: replicas outside min/max_instances at start', {
  timeout: 60_000,
}, () => {
  it('6 replicas, max_instances 4: the HPA is written 1..6, the drained scale-in made, then 1..4', async (t) => {
    const { writes, stored, settled, errors } = await leading(t, 'hpa', 6, 1, 4, 4);
    await settled('1..4', 4);
    console.log(`start 1..4 at 6 replicas: HPA ${stored()}; writes: ${writes(0).join(', ')}`);
    assert.deepEqual(writes(0), ['hpa 1..6', 'scale 4', 'hpa 1..4'], 'widened first, as on a reload');
    assert.deepEqual(errors, [], 'nothing failed');
  });

  it('1 replica, min_instances 3: the HPA is written 1..8, the scale-out made, then 3..8', async (t) => {
    const { writes, stored, settled, errors } = await leading(t, 'hpa', 1, 3, 8, 3);
    await settled('3..8', 3);
    console.log(`start 3..8 at 1 replica: HPA ${stored()}; writes: ${writes(0).join(', ')}`);
    assert.deepEqual(
      writes(0),
      ['hpa 1..8', 'scale 3', 'hpa 3..8'],
      "Scaleplane's scale, not the HPA's, makes the 3",
    );
    assert.deepEqual(errors, [], 'nothing failed');
  });
});

describe('kubernetes provider, mode controller: min/max_instances changed by a config reload', () => {
  it('writes no HPA: Scaleplane scales, the bounds are its own', async (t) => {
    const { server, reload, writes, settled, errors } = await leading(t, 'controller', 4, 1, 5);
    reload({ minInstances: 1, maxInstances: 2 });
    await settled('none', 2);
    assert.deepEqual(writes(), ['scale 2'], 'the scale-in alone');
    assert.equal(server.hpas.size, 0, 'no HPA');
    assert.deepEqual(errors, [], 'nothing failed');
  });
});

/**
 * scalingAt is a `scaling` section of one cpu metric at `target` %, as the config parses it, with
 * `behavior` (YAML lines below `behavior:`) if given.
 */
function scalingAt(target: number, behavior: string[] = []): GroupConfig['scaling'] {
  const yaml = [
    'groups:',
    '  web:',
    '    provider: kubernetes',
    '    namespace: shop',
    '    name: web',
    '    mode: hpa',
    '    max_instances: 5',
    '    scaling:',
    '      metrics:',
    `        - cpu: { target: ${target} }`,
    ...(behavior.length ? ['      behavior:', ...behavior.map((line) => `        ${line}`)] : []),
    '',
  ].join('\n');
  return parseConfig(yaml, { baseDir: '/srv/app' }).groups.web!.scaling;
}

/** cpuTarget is the cpu target the HPA shop/web stores. */
function cpuTarget(server: KubeServer): unknown {
  return server.hpas.get('shop/web')?.spec.metrics[0].resource.target.averageUtilization;
}

/** HpaSpec is the spec of an HPA the KubeServer stores. */
type HpaSpec = NonNullable<ReturnType<KubeServer['hpas']['get']>>['spec'];

/**
 * editedTwice has another client edit the stored HPA's spec (`first`), reloads the bounds to 1..7
 * and then 1..6 (cpu target 60 configured, unchanged), has it edit again (`second`), reloads to
 * 1..8, and waits until the three writes are logged; gives `leading`'s handles back.
 */
async function editedTwice(
  group: Awaited<ReturnType<typeof leading>>,
  first: (spec: HpaSpec) => void,
  second: (spec: HpaSpec) => void,
) {
  const { server, reload, settled, notes } = group;
  first(server.hpas.get('shop/web')!.spec);
  reload({ minInstances: 1, maxInstances: 7, scaling: scalingAt(60) });
  await settled('1..7', 3);
  reload({ minInstances: 1, maxInstances: 6, scaling: scalingAt(60) });
  await settled('1..6', 3);
  second(server.hpas.get('shop/web')!.spec);
  reload({ minInstances: 1, maxInstances: 8, scaling: scalingAt(60) });
  await settled('1..8', 3);
  await until(
    () => notes.filter((n) => n.startsWith('BoundsAligned')).length === 3,
    5000,
    'the three writes logged',
  );
  return group;
}

/** WINDOW_120S is the provider's behavior of a scale_down stabilization_window of 120s. */
const WINDOW_120S = { behavior: { scaleDown: { stabilizationWindow: 120_000 } } };

/**
 * startedOnFound starts a `mode: hpa` provider of web (1..5, cpu target 60, `options` added) on
 * Deployment shop/web at 3 replicas, whose HPA is found holding 1..5, cpu target `found.target` and
 * `found.behavior` if given; gives the server and the provider's notes, as `reason: message`.
 */
async function startedOnFound(
  t: TestContext,
  found: { target: number; behavior?: unknown },
  options: Partial<KubernetesProviderOptions> = {},
) {
  const notes: string[] = [];
  const note = (f: unknown, msg: string) => notes.push(`${(f as { reason?: string }).reason}: ${msg}`);
  const { server, provider } = await webOnKube(t, 3, {
    arrange: (s) =>
      s.hpas.set('shop/web', {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 1,
          maxReplicas: 5,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: found.target } },
            },
          ],
          ...(found.behavior === undefined ? {} : { behavior: found.behavior }),
        },
      }),
    config: { mode: 'hpa' },
    options: { cpuTarget: 60, logger: { info: note, warn: note, error: note }, ...options },
  });
  await provider.start();
  return { server, notes };
}

// A cpu target set by another client (`kubectl edit hpa web`) is treated as other hand edits are (a
// `kubectl scale`, a partition set during a roll): left as set, and warned about, while
// groups.web.scaling is unchanged; written over only when the configured target changes (a reload)
// or at start, and then the line names the target replaced. Before, the next write of the HPA's
// bounds put the configured target back over it without a word.
describe('kubernetes provider, mode hpa: a cpu target another client set', { timeout: 60_000 }, () => {
  it('a reload of the bounds alone leaves it as set, and says so', async (t) => {
    const { server, reload, settled, notes } = await leading(t, 'hpa', 3, 1, 5);
    server.hpas.get('shop/web')!.spec.metrics[0].resource.target.averageUtilization = 50;
    reload({ minInstances: 1, maxInstances: 7, scaling: scalingAt(60) });
    await settled('1..7', 3);
    assert.equal(cpuTarget(server), 50, "the operator's 50 stands (before: set back to 60)");
    await until(() => notes.some((n) => n.startsWith('BoundsAligned')), 5000, 'the write logged');
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaMetrics') || n.startsWith('BoundsAligned')),
      [
        'BoundsAligned: HorizontalPodAutoscaler shop/web: minReplicas 1, maxReplicas 7, cpu target 50 % (min_instances 1, max_instances 7, replicas 3)',
        'HpaMetricsChangedElsewhere: HorizontalPodAutoscaler shop/web: cpu target 50 %, set by another client (groups.web.scaling says cpu target 60 %); left as set',
      ],
    );
  });

  it('warns once per target another client set, however many writes keep it', async (t) => {
    const { server, notes } = await editedTwice(
      await leading(t, 'hpa', 3, 1, 5),
      (spec) => {
        spec.metrics[0].resource.target.averageUtilization = 50;
      },
      (spec) => {
        spec.metrics[0].resource.target.averageUtilization = 45;
      },
    );
    assert.equal(cpuTarget(server), 45, "the operator's 45 stands");
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaMetrics')),
      [
        'HpaMetricsChangedElsewhere: HorizontalPodAutoscaler shop/web: cpu target 50 %, set by another client (groups.web.scaling says cpu target 60 %); left as set',
        'HpaMetricsChangedElsewhere: HorizontalPodAutoscaler shop/web: cpu target 45 %, set by another client (groups.web.scaling says cpu target 60 %); left as set',
      ],
      'once for 50 (not again at the second write), once for 45',
    );
  });

  it('a reload that changes the target writes it, naming the one it replaced', async (t) => {
    const { server, reload, settled, notes } = await leading(t, 'hpa', 3, 1, 5);
    server.hpas.get('shop/web')!.spec.metrics[0].resource.target.averageUtilization = 50;
    reload({ minInstances: 1, maxInstances: 5, scaling: scalingAt(75) });
    await until(() => cpuTarget(server) === 75, 5000, 'cpu target 75');
    await settled('1..5', 3);
    await until(() => notes.some((n) => n.startsWith('HpaMetrics')), 5000, 'the replacement logged');
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaMetrics')),
      [
        'HpaMetricsReplaced: HorizontalPodAutoscaler shop/web: cpu target 50 %, set by another client, replaced by cpu target 75 % (groups.web.scaling changed)',
      ],
    );
  });

  it('the start writes the configured target over one found, naming it', async (t) => {
    const { server, notes } = await startedOnFound(t, { target: 50 });
    assert.equal(cpuTarget(server), 60, 'the configured target written');
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaMetrics')),
      [
        "HpaMetricsReplaced: HorizontalPodAutoscaler shop/web: cpu target 50 % found at start, not groups.web.scaling's cpu target 60 %; set back to cpu target 60 % (change groups.web.scaling to keep another target)",
      ],
    );
  });
});

/**
 * The behavior an operator sets by hand below (`kubectl edit hpa web`), as the API server stores it,
 * keys in the order the client reads them (as the log lines quote it).
 */
const THEIRS = {
  scaleDown: {
    policies: [{ periodSeconds: 15, type: 'Percent', value: 100 }],
    selectPolicy: 'Max',
    stabilizationWindowSeconds: 600,
  },
  scaleUp: {
    policies: [{ periodSeconds: 60, type: 'Pods', value: 2 }],
    selectPolicy: 'Max',
    stabilizationWindowSeconds: 0,
  },
};

// A behavior set by another client is treated as a cpu target set by another client is (above):
// left as set, and warned about, while groups.web.scaling is unchanged; written over only when the
// configured behavior changes (a reload) or at start, naming the one replaced. Behaviors are compared
// as Kubernetes defaults them, so the API server's filling-in of ours is no hand edit. Before, the
// next write of the HPA's bounds dropped it (no behavior configured) or wrote the configured one
// back, without a word.
describe('kubernetes provider, mode hpa: a behavior another client set', { timeout: 60_000 }, () => {
  it('a reload of the bounds alone leaves it as set, and says so', async (t) => {
    const { server, reload, settled, notes } = await leading(t, 'hpa', 3, 1, 5);
    assert.equal(server.hpas.get('shop/web')!.spec.behavior, undefined, 'start wrote no behavior');
    server.hpas.get('shop/web')!.spec.behavior = structuredClone(THEIRS);
    reload({ minInstances: 1, maxInstances: 7, scaling: scalingAt(60) });
    await settled('1..7', 3);
    assert.deepEqual(
      server.hpas.get('shop/web')!.spec.behavior,
      THEIRS,
      "the operator's behavior stands (before: dropped by the write of the bounds)",
    );
    await until(() => notes.some((n) => n.startsWith('BoundsAligned')), 5000, 'the write logged');
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaBehavior')),
      [
        `HpaBehaviorChangedElsewhere: HorizontalPodAutoscaler shop/web: behavior ${JSON.stringify(THEIRS)}, set by another client (groups.web.scaling says no behavior); left as set`,
      ],
    );
  });

  it('warns once per behavior another client set, however many writes keep it', async (t) => {
    const again = structuredClone(THEIRS);
    again.scaleDown.stabilizationWindowSeconds = 900;
    const { server, notes } = await editedTwice(
      await leading(t, 'hpa', 3, 1, 5),
      (spec) => {
        spec.behavior = structuredClone(THEIRS);
      },
      (spec) => {
        spec.behavior = again;
      },
    );
    assert.deepEqual(server.hpas.get('shop/web')!.spec.behavior, again, "the operator's second edit stands");
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaBehavior')),
      [
        `HpaBehaviorChangedElsewhere: HorizontalPodAutoscaler shop/web: behavior ${JSON.stringify(THEIRS)}, set by another client (groups.web.scaling says no behavior); left as set`,
        `HpaBehaviorChangedElsewhere: HorizontalPodAutoscaler shop/web: behavior ${JSON.stringify(again)}, set by another client (groups.web.scaling says no behavior); left as set`,
      ],
      'once for the window of 600 s (not again at the second write), once for 900 s',
    );
  });

  it('a reload that changes the behavior writes it, naming the one it replaced', async (t) => {
    const { server, reload, settled, notes } = await leading(t, 'hpa', 3, 1, 5);
    server.hpas.get('shop/web')!.spec.behavior = structuredClone(THEIRS);
    reload({
      minInstances: 1,
      maxInstances: 5,
      scaling: scalingAt(60, ['scale_down: { stabilization_window: 120s }']),
    });
    const ours = { scaleDown: { stabilizationWindowSeconds: 120 } };
    await until(
      () => JSON.stringify(server.hpas.get('shop/web')!.spec.behavior) === JSON.stringify(ours),
      5000,
      'the configured behavior written',
    );
    await settled('1..5', 3);
    await until(() => notes.some((n) => n.startsWith('HpaBehavior')), 5000, 'the replacement logged');
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaBehavior')),
      [
        `HpaBehaviorReplaced: HorizontalPodAutoscaler shop/web: behavior ${JSON.stringify(THEIRS)}, set by another client, replaced by behavior ${JSON.stringify(ours)} (groups.web.scaling changed)`,
      ],
    );
  });

  it('the start writes the configured behavior over another one found, naming it', async (t) => {
    const { server, notes } = await startedOnFound(
      t,
      { target: 60, behavior: structuredClone(THEIRS) },
      WINDOW_120S,
    );
    assert.deepEqual(server.hpas.get('shop/web')!.spec.behavior, {
      scaleDown: { stabilizationWindowSeconds: 120 },
    });
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaBehavior')),
      [
        `HpaBehaviorReplaced: HorizontalPodAutoscaler shop/web: behavior ${JSON.stringify(THEIRS)} found at start, not groups.web.scaling's behavior {"scaleDown":{"stabilizationWindowSeconds":120}}; set back to it (change groups.web.scaling.behavior to keep another)`,
      ],
    );
  });

  it('the start finds the configured behavior as Kubernetes defaulted it: no hand edit, nothing said', async (t) => {
    // What the API server stores for { scaleDown: { stabilizationWindowSeconds: 120 } }.
    const { notes } = await startedOnFound(
      t,
      {
        target: 60,
        behavior: {
          scaleUp: {
            stabilizationWindowSeconds: 0,
            selectPolicy: 'Max',
            policies: [
              { type: 'Pods', value: 4, periodSeconds: 15 },
              { type: 'Percent', value: 100, periodSeconds: 15 },
            ],
          },
          scaleDown: {
            stabilizationWindowSeconds: 120,
            selectPolicy: 'Max',
            policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
          },
        },
      },
      WINDOW_120S,
    );
    assert.deepEqual(
      notes.filter((n) => n.startsWith('HpaBehavior')),
      [],
      "the defaults filled in are no other client's",
    );
  });
});
