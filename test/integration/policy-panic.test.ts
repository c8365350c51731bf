// Acceptance 5 of the policy issue: the live controller runs the same policy pipeline as the
// simulator. A burst on a real local instance makes the KPA panic stage decide, the journal says
// so, and while panicking the group does not scale in although the load is gone.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { nextEntry, startInProcess } from '../helpers/scaleplane.js';

// Target 20 %: a burst of a few busy requests is ≥ 2× what one instance should carry even when
// other processes on a shared machine leave the instance much less than a core.
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
        - cpu: { target: 20 }
      metric_window: 2s
      behavior:
        scale_down: { stabilization_window: 0s }
      panic: { window: 3s, stable_window: 30s }
`;

const PANIC = ['PanicStarted', 'Saturated', 'Panicking'];

describe('live panic mode', () => {
  let app: Scaleplane | undefined;
  after(() => app?.close());

  it('a burst makes the panic stage scale out, and panic holds scale-in', async () => {
    app = await startInProcess(CONFIG);
    const { host, port } = app.balancerAddress!;
    const load = startLoad({
      url: `http://${host}:${port}/work?ms=40`,
      concurrency: 4,
      maxDurationMs: 45_000,
    });
    let result: Awaited<ReturnType<typeof load.stop>> | undefined;
    try {
      const out = await nextEntry(
        app,
        (e) => e.source === 'policy' && e.after > e.before && e.reasons.some((r) => PANIC.includes(r)),
        35_000,
      );
      const stages = out.inputs.stages as { stage: string; reason?: string }[];
      assert.ok(
        stages.some((s) => s.stage === 'panicked' && PANIC.includes(s.reason ?? '')),
        `stages: ${JSON.stringify(stages)}`,
      );
      assert.ok(Array.isArray(out.inputs.metrics), 'the journal keeps the metric inputs');
      assert.equal(typeof out.inputs.prenormalized, 'number');
    } finally {
      result = await load.stop();
    }
    assert.equal(result.errors, 0);

    // Load gone: the reactive stage now wants fewer, panic keeps the count for its stable window.
    const group = app.controller.group('web');
    const held = group.desired();
    const deadline = Date.now() + 15_000;
    let reasons: string[] = [];
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      reasons = group.lastDecision?.reasons ?? [];
      if (reasons.includes('BelowTarget') && reasons.includes('PanicHold')) break;
    }
    assert.ok(reasons.includes('PanicHold'), `reasons once idle: ${reasons}`);
    assert.equal(group.desired(), held, 'no scale-in while panicking');
  });
});
