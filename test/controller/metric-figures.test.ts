// A group may scale on two metrics of one type (two PromQL queries, two queues). The journal's
// `inputs.metrics[]` and the status `metrics[]` matched each proposal to its reading by name, so the
// second metric of a type showed the first one's figures: its sample count in the journal, its
// average in `GET /api/scalability/groups/:name` and `scaleplane status`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GroupConfig } from '../../src/config/types.js';
import { Controller, DecisionJournal, GroupController } from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import type { ObservedMetric } from '../../src/policy/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

const silent = { info() {}, warn() {}, error() {} };

const query = (q: string, target: number) =>
  ({
    type: 'prometheus',
    target,
    query: q,
    url: 'http://127.0.0.1:1',
    onWarnings: 'missing',
    timeout: 5000,
  }) as const;

describe('figures of two metrics of one type', () => {
  it('each metric shows its own sample count and average', async () => {
    const config: GroupConfig = groupConfig({
      maxInstances: 10,
      scaling: {
        metrics: [query('sum(a)', 100), query('sum(b)', 10)],
        tolerance: 0.1,
        scaleDownStabilization: 0,
        scaleUpStabilization: 0,
        metricWindow: 1_000,
      },
    });
    const journal = new DecisionJournal();
    // The first query's source is down; the second reads 60 (6 instances' worth at target 10).
    const readings: ObservedMetric[] = [
      { name: 'prometheus', target: 100, kind: 'total', values: [], error: 'connect ECONNREFUSED' },
      { name: 'prometheus', target: 10, kind: 'total', values: [60] },
    ];
    const group = new GroupController({
      config,
      provider: new MemoryProvider('web'),
      journal,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      readMetrics: () => readings,
    });
    const controller = new Controller({
      config: {
        groups: { web: config },
        controller: { interval: 60_000 },
      } as unknown as ConstructorParameters<typeof Controller>[0]['config'],
      groups: [group],
      journal,
      backends: () => [],
      logger: silent,
      now: () => 1_000,
    });
    await group.start(0, 2);
    const entry = group.evaluate(1_000);
    assert.ok(entry, 'the second query asks for 6 instances: the decision must be journaled');
    const figures = (entry.inputs.metrics as { average: number | null; samples: number }[]).map((m) => [
      m.average,
      m.samples,
    ]);
    assert.deepEqual(
      figures,
      [
        [null, 0],
        [60, 1],
      ],
      'journal inputs.metrics[]: each query its own [average, samples] (the second showed the first one’s 0 samples)',
    );
    const status = controller.status('web').metrics.map((m) => [m.target, m.average]);
    assert.deepEqual(
      status,
      [
        [100, null],
        [10, 60],
      ],
      'status metrics[]: each query its own average (the second showed the first one’s null)',
    );
    controller.close();
  });
});
