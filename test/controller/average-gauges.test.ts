// scaleplane_group_cpu_percent and scaleplane_group_memory_{percent,bytes} are the averages the
// policy used. With no average (the metric missing, or no longer configured) a gauge is removed:
// before, it kept its last value, so a group whose instances had all stopped answering read 90 %
// CPU on /metrics (an alert on it kept firing) and a reload that dropped `scaling` left it forever.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GroupConfig } from '../../src/config/types.js';
import { DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import type { ObservedMetric } from '../../src/policy/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

const scaling = (metrics: NonNullable<GroupConfig['scaling']>['metrics']): GroupConfig['scaling'] => ({
  metrics,
  tolerance: 0.1,
  scaleDownStabilization: 0,
  scaleUpStabilization: 0,
  metricWindow: 1_000,
});

/** gauges reads the group's average gauges from the /metrics text (absent: undefined). */
async function gauges(metrics: ReturnType<typeof createMetrics>) {
  const text = await metrics.registry.metrics();
  const read = (name: string) => text.match(new RegExp(`^${name}\\{group="web"\\} (\\S+)$`, 'm'))?.[1];
  return {
    cpu: read('scaleplane_group_cpu_percent'),
    percent: read('scaleplane_group_memory_percent'),
    bytes: read('scaleplane_group_memory_bytes'),
  };
}

describe('group average gauges', () => {
  it('follow the averages the policy used, and go when it has none', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let readings: ObservedMetric[] = [];
    const config = groupConfig({ maxInstances: 4, scaling: scaling([{ type: 'cpu', target: 50 }]) });
    const group = new GroupController({
      config,
      provider: new MemoryProvider('web'),
      journal: new DecisionJournal(),
      metrics,
      logger: silent,
      readMetrics: () => readings,
    });
    await group.start(0, 2);

    readings = [{ name: 'cpu', target: 50, values: [45, 45] }];
    group.evaluate(1_000);
    assert.deepEqual(await gauges(metrics), { cpu: '45', percent: undefined, bytes: undefined });

    // Every ready instance lacks a sample: the policy has no CPU average.
    readings = [{ name: 'cpu', target: 50, values: [], missing: 2 }];
    group.evaluate(2_000);
    assert.equal(
      (await gauges(metrics)).cpu,
      undefined,
      'no CPU average used: the gauge must go, not read 45',
    );

    // Memory by percent, then (a reload) by bytes: only the unit in use is exported.
    group.reconfigure(
      { ...config, scaling: scaling([{ type: 'memory', target: 80, targetType: 'Utilization' }]) },
      3_000,
      { by: 'test', changes: ['groups.web.scaling'] },
    );
    readings = [{ name: 'memory', target: 80, kind: 'utilization', values: [60, 60] }];
    group.evaluate(4_000);
    assert.deepEqual(await gauges(metrics), { cpu: undefined, percent: '60', bytes: undefined });
    group.reconfigure(
      {
        ...config,
        scaling: scaling([{ type: 'memory', target: 256 * 2 ** 20, targetType: 'AverageValue' }]),
      },
      5_000,
      { by: 'test', changes: ['groups.web.scaling'] },
    );
    readings = [{ name: 'memory', target: 256 * 2 ** 20, kind: 'average', values: [2 ** 27, 2 ** 27] }];
    group.evaluate(6_000);
    assert.deepEqual(
      await gauges(metrics),
      { cpu: undefined, percent: undefined, bytes: String(2 ** 27) },
      'the percent gauge of the previous target must go',
    );

    // A reload that takes `scaling` away: the group is scaled by hand only, no average is used.
    const { scaling: _dropped, ...manual } = config;
    group.reconfigure(manual, 7_000, { by: 'test', changes: ['groups.web.scaling'] });
    group.evaluate(8_000);
    assert.deepEqual(await gauges(metrics), { cpu: undefined, percent: undefined, bytes: undefined });
  });
});
