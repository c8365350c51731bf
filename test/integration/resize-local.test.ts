// Acceptance: `scaleplane resize web cpu=0.5,memory=256Mi` on local instances under steady load:
// every instance ends with the new limits, read back from the cgroup files, and no request fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { detectCgroups, readLimits } from '../../src/providers/index.js';
import { runCli } from '../helpers/cli-process.js';
import { startLoad } from '../helpers/load.js';
import { DEMO_DIR, settled, startInProcess } from '../helpers/scaleplane.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('local vertical scaling', { skip }, () => {
  it('resizes every instance under load, one at a time, with zero failed requests', async (t) => {
    const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
groups:
  web:
    command: node server.js
    cwd: ${DEMO_DIR}
    min_instances: 2
    max_instances: 4
`);
    t.after(() => app.close());
    await settled(app, 'web', 2, 30_000);
    const provider = app.providers.get('web')!;
    const before = provider.instances().map((i) => i.pid);
    const balancer = `http://127.0.0.1:${app.balancerAddress!.port}/`;
    const load = startLoad({ url: balancer, concurrency: 4, maxDurationMs: 120_000 });
    t.after(() => load.stop());
    await load.reached(200);

    let minReady = Number.POSITIVE_INFINITY;
    const onChange = () => {
      minReady = Math.min(minReady, provider.instances().filter((i) => i.state === 'ready').length);
    };
    provider.on('change', onChange);
    const cli = await runCli(
      ['resize', 'web', 'cpu=0.5,memory=256Mi', '--api', `http://127.0.0.1:${app.apiAddress!.port}`],
      { SCALEPLANE_API_KEY: 'integration-token' },
    );
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /web: resizing 2 instance\(s\) to cpu=0\.5,memory=256Mi/);

    const deadline = Date.now() + 90_000;
    const resized = () => {
      const list = provider.instances();
      return (
        list.length === 2 &&
        list.every((i) => i.state === 'ready' && i.size?.cpu === 0.5 && !before.includes(i.pid))
      );
    };
    while (!resized() && Date.now() < deadline) await delay(100);
    provider.off('change', onChange);
    await load.reached(200);
    const result = await load.stop();

    assert.ok(resized(), `not resized: ${JSON.stringify(provider.instances())}`);
    t.diagnostic(
      `requests ${result.ok} ok, ${result.non2xx} non-2xx, ${result.errors} errors; ready never below ${minReady}`,
    );
    assert.equal(result.errors, 0, JSON.stringify(result.errorCodes));
    assert.equal(result.non2xx, 0, JSON.stringify(result.statuses));
    assert.ok(minReady >= 2, `ready dropped to ${minReady}`);
    for (const instance of provider.instances()) {
      const limits = readLimits(instance.pid!, layout!.version);
      t.diagnostic(
        `${instance.id} pid ${instance.pid}: cpu ${limits.cpu} cores, memory ${limits.memory} bytes`,
      );
      assert.deepEqual(limits, { cpu: 0.5, memory: 256 * 1024 * 1024 });
    }
    const events = app.controller.events({ group: 'web' });
    assert.ok(
      events.some((e) => e.reasons.includes('ManualResize')),
      'the resize is journaled',
    );
  });
});
