// A polled source reports its failure once per streak (the app logs and alerts it), and a source
// with no value *yet* (`latency` with no request completed since its last read, `rps` before its
// second read) is missing without anything having failed: README says it is neither logged nor
// alerted. The group controller logged `metric source failed` at warn for every reading with an
// error on every tick: 10 warnings in 10 ticks for a latency metric of a group that was merely
// quiet, and one per tick for the whole length of a real outage beside the source's one line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecisionJournal, GroupController } from '../../src/controller/index.js';
import {
  createMetrics,
  type MetricSource,
  MetricSourceError,
  PolledMetric,
} from '../../src/metrics/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

describe('a missing metric in the controller log', () => {
  for (const [what, error, reported] of [
    [
      'no value yet (nothing failed)',
      new MetricSourceError('SOURCE_NOT_READ', 'no requests completed since the last read'),
      0,
    ],
    ['a failing source', new MetricSourceError('SOURCE_FAILED', 'connect ECONNREFUSED 127.0.0.1:1'), 1],
  ] as const) {
    it(`${what}: reported ${reported === 0 ? 'never' : 'once'}, not once per tick`, async () => {
      const source: MetricSource = {
        name: 'latency',
        kind: 'average',
        read: () => Promise.reject(error),
        close: () => Promise.resolve(),
      };
      const reports: (Error | undefined)[] = [];
      const polled = new PolledMetric({
        source,
        target: 200,
        group: 'web',
        instances: () => [],
        onError: (err) => reports.push(err),
        now: () => 0,
      });
      await polled.poll();
      const warnings: string[] = [];
      const group = new GroupController({
        config: groupConfig({
          maxInstances: 4,
          scaling: {
            metrics: [{ type: 'latency', target: 200, percentile: 95 }],
            tolerance: 0.1,
            scaleDownStabilization: 0,
            scaleUpStabilization: 0,
            metricWindow: 1_000,
          },
        }),
        provider: new MemoryProvider('web'),
        journal: new DecisionJournal(),
        metrics: createMetrics({ defaultMetrics: false }),
        logger: { info() {}, warn: (_o, msg) => warnings.push(msg ?? ''), error() {} },
        readMetrics: (_instances, now) => [polled.observe(now)],
      });
      await group.start(0, 2);
      for (let tick = 1; tick <= 10; tick++) {
        await polled.poll();
        group.evaluate(tick * 1_000);
      }
      await polled.close();
      assert.equal(reports.length, reported, `the source's own reports: ${reports.map(String).join('; ')}`);
      assert.deepEqual(
        warnings,
        [],
        `the controller must not warn once per tick on top of the source (${warnings.length} warnings in 10 ticks)`,
      );
    });
  }
});
