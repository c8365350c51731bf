// Acceptance: CPU load through the balancer scales the group out on its own, and back in after
// the load stops, with the journal explaining both. Real processes, real balancer, real /proc.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { nextEntry, settled, startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  algorithm: least-connections
  health: { path: /healthz, interval: 500ms }
controller: { interval: 1s }
groups:
  web:
    command: node server.js
    min_instances: 1
    max_instances: 3
    scaling:
      metrics:
        # 20 %, not 40: one instance under this load reads ~100 % on a quiet machine, but only 31 %
        # on 2 cores with a load average of 16 (a CI run beside other work), which never scaled out.
        - cpu: { target: 20 }
      metric_window: 3s
      behavior:
        scale_down: { stabilization_window: 3s }
`;

describe('autoscaling on CPU', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('scales out under CPU load and back in when it stops, and says why', async () => {
    app = await startInProcess(CONFIG);
    const { host, port } = app.balancerAddress!;
    const load = startLoad({
      url: `http://${host}:${port}/work?ms=30`,
      concurrency: 3,
      maxDurationMs: 60_000,
    });

    const out = await nextEntry(app, (e) => e.source === 'policy' && e.after > e.before, 30_000).catch(
      (err: Error) => {
        // The CPU the last decision read: on a machine whose cores other work holds, an instance
        // cannot reach the target (its busy loops wait for a core), and that is the answer.
        const { metrics, ready } = app.controller.status('web');
        throw new Error(`${err.message}; last reading ${JSON.stringify(metrics)}, ${ready} ready`);
      },
    );
    assert.equal(out.reasons[0], 'AboveTarget');
    const cpu = (out.inputs.metrics as { name: string; average: number }[])[0]!;
    assert.equal(cpu.name, 'cpu');
    assert.ok(cpu.average > 20 * 1.1, `scaled out at cpu ${cpu.average}`);
    // A slow machine can see a second step (1 → 2 → 3) before the first step's instances are
    // ready, and the group never sits at exactly out.after: wait for it to settle wherever the
    // policy wants it now, at least the first step.
    const provider = app.providers.get('web')!;
    await until(
      () => {
        const want = app.controller.group('web').desired();
        const instances = provider.instances();
        return want >= out.after && instances.length === want && instances.every((i) => i.state === 'ready');
      },
      30_000,
      'the group settled at its desired count',
    );

    const result = await load.stop();
    assert.equal(result.errors, 0);
    assert.equal(result.non2xx, 0);

    const back = await nextEntry(app, (e) => e.source === 'policy' && e.after === 1 && e.before > 1, 30_000);
    assert.ok(back.reasons.includes('BelowTarget'), `scale-in reasons: ${back.reasons}`);
    await settled(app, 'web', 1, 15_000);

    // The same story through the control API's journal.
    const api = app.apiAddress!;
    const res = await fetch(`http://${api.host}:${api.port}/api/scalability/events?group=web`, {
      headers: { authorization: 'Bearer integration-token' },
    });
    const { events } = (await res.json()) as {
      events: { source: string; before: number; after: number; message: string }[];
    };
    const policy = events.filter((e) => e.source === 'policy');
    assert.ok(
      policy.some((e) => e.after > e.before && /cpu .* vs target 20/.test(e.message)),
      'policy.some((e) => e.after > e.before && /cpu .* vs target 20/.test(e.message))',
    );
    assert.ok(
      policy.some((e) => e.after < e.before && /cpu .* vs target 20/.test(e.message)),
      'policy.some((e) => e.after < e.before && /cpu .* vs target 20/.test(e.message))',
    );
  });
});
