// Acceptance: a webhook receiver gets exactly one alert for a crash-looping group and one resolve
// once the group is healthy again. Real Scaleplane, real child processes: the instance command
// exits at once until a flag file exists.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';
import { startReceiver } from './receiver.js';

const APP = resolve(import.meta.dirname, '../fixtures/provider-app.mjs');

describe('alerts on a crash-looping group', () => {
  let app: Scaleplane | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  after(async () => {
    await app?.close();
    await receiver?.close();
  });

  it('sends one firing alert, then one resolve once the group is healthy', async () => {
    receiver = await startReceiver();
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-crashloop-'));
    const flag = join(dir, 'healthy');
    app = await startInProcess(
      `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
alerts:
  sinks:
    - webhook: { url: "${receiver.url}", retries: 2 }
groups:
  web:
    command: test -e "${flag}" || exit 1; exec "${process.execPath}" "${APP}"
    min_instances: 1
    max_instances: 2
    crash_loop: { limit: 2, window: 60s }
`,
      dir,
    );
    await receiver.waitFor(1, 30_000);
    const [firing] = receiver.json();
    assert.equal(firing!.key, 'crash-loop:web');
    assert.equal(firing!.status, 'firing');
    assert.equal(firing!.severity, 'critical');
    assert.equal(firing!.group, 'web');
    // The journal says why the group runs below its count: each crash, then the paused replacing.
    const health = app.controller.journal
      .entries({ group: 'web' })
      .filter((e) => e.source === 'health')
      .map((e) => e.reasons[0]);
    assert.ok(health.filter((r) => r === 'InstanceCrashed').length >= 3, `journal: ${health.join(', ')}`);
    assert.equal(health.filter((r) => r === 'CrashLoopBackOff').length, 1, `journal: ${health.join(', ')}`);
    // Each start that exited before it was ready is a failed provider operation, counted.
    const errors = await app.metrics.registry.getSingleMetric('scaleplane_provider_errors_total')!.get();
    const web = errors.values.find((v) => v.labels.group === 'web');
    assert.ok((web?.value ?? 0) >= 3, `scaleplane_provider_errors_total{group="web"} is ${web?.value}`);

    // Fix the service, then scale (which lifts the crash-loop pause): the group comes back.
    await writeFile(flag, '');
    const api = `http://127.0.0.1:${app.apiAddress!.port}`;
    const res = await fetch(`${api}/api/scalability/scale-group`, {
      method: 'POST',
      headers: { authorization: 'Bearer integration-token', 'content-type': 'application/json' },
      body: JSON.stringify({ group: 'web', action: 'set', instances: 1 }),
    });
    assert.equal(res.status, 200);
    await settled(app, 'web', 1, 20_000);
    await receiver.waitFor(2, 10_000);
    await app.alerts.flush();
    // Nothing else arrives: exactly one firing and one resolve.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      receiver.json().map((a) => `${a.key} ${a.status}`),
      ['crash-loop:web firing', 'crash-loop:web resolved'],
    );
    assert.match(String(receiver.json()[1]!.summary), /healthy again/);
    assert.equal(app.alerts.isFiring('crash-loop:web'), false);
  });
});
