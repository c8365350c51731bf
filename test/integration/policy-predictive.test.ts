// Acceptance 5 of the policy issue, predictive half: the live controller runs the same forecaster
// as the simulator. Under load on real local instances the forecaster learns from the controller's
// own samples, and a scale-out is decided by the `predicted` stage rather than by the reactive one.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { nextEntry, startInProcess } from '../helpers/scaleplane.js';

// One-second buckets so the forecaster has a history within seconds. The forecast provisions for
// 15 % CPU while the reactive stage tracks 40 %: whatever the load on a shared machine leaves one
// instance (a little CPU is enough), the forecast asks for more instances than the reactive count.
const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 500ms }
controller: { interval: 1s }
groups:
  web:
    command: node server.js
    min_instances: 1
    max_instances: 4
    scaling:
      metrics:
        - cpu: { target: 40 }
      metric_window: 2s
      behavior:
        scale_down: { stabilization_window: 0s }
      predictive: { seasons: [], bucket: 1s, horizon: 3s, violation_cost: 100, utilization: 15 }
`;

describe('live predictive scaling', () => {
  let app: Scaleplane | undefined;
  after(() => app?.close());

  it('the learnt forecast scales the group out on real instances', async () => {
    app = await startInProcess(CONFIG);
    const group = app.controller.group('web');
    // The idle group's first buckets close before any load: the forecast that acts has a past.
    const deadline = Date.now() + 20_000;
    while (group.predictiveBuckets < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const learnt = group.predictiveBuckets;
    assert.ok(learnt >= 3, `closed buckets before the load: ${learnt}`);
    const { host, port } = app.balancerAddress!;
    const load = startLoad({
      url: `http://${host}:${port}/work?ms=20`,
      concurrency: 2,
      maxDurationMs: 45_000,
    });
    let result: Awaited<ReturnType<typeof load.stop>> | undefined;
    try {
      const out = await nextEntry(
        app,
        (e) => e.source === 'policy' && e.after > e.before && e.reasons.includes('Predicted'),
        40_000,
      );
      const stages = out.inputs.stages as { stage: string; desired: number; reason?: string }[];
      const reactive = stages.find((s) => s.stage === 'reactive')!;
      const predicted = stages.find((s) => s.stage === 'predicted');
      assert.ok(predicted && predicted.desired > reactive.desired, `stages: ${JSON.stringify(stages)}`);
    } finally {
      result = await load.stop();
    }
    assert.equal(result.errors, 0);
    assert.ok(group.predictiveBuckets > learnt, 'the forecaster kept learning from live samples');
  });
});
