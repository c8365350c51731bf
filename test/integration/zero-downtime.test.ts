// Acceptance: steady load while the group goes 1 → 4 → 1 sees zero non-2xx and zero connection
// errors: new instances join only when ready, removed ones drain before they stop.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';

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
    max_instances: 4
`;

describe('scaling under load', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('goes 1 → 4 → 1 twice with no failed request', async () => {
    app = await startInProcess(CONFIG);
    const { host, port } = app.balancerAddress!;
    const base = `http://${host}:${port}`;
    // Requests that take a few ms are in flight when instances go away; POSTs may never be retried.
    const gets = startLoad({ url: `${base}/work?ms=3`, concurrency: 4, maxDurationMs: 90_000 });
    const posts = startLoad({
      url: `${base}/`,
      method: 'POST',
      body: 'x'.repeat(2048),
      concurrency: 2,
      maxDurationMs: 90_000,
    });

    for (let round = 0; round < 2; round++) {
      await gets.reached(100);
      app.controller.scale('web', 'set', 4);
      await settled(app, 'web', 4, 20_000);
      await gets.reached(300);
      app.controller.scale('web', 'set', 1);
      await settled(app, 'web', 1, 40_000);
      await gets.reached(100);
    }
    const [g, p] = await Promise.all([gets.stop(), posts.stop()]);
    for (const [name, r] of [
      ['GET', g],
      ['POST', p],
    ] as const) {
      assert.ok(r.ok > 0, `${name} load made requests`);
      assert.equal(r.errors, 0, `${name} connection errors: ${JSON.stringify(r.errorCodes)}`);
      assert.equal(r.non2xx, 0, `${name} non-2xx: ${JSON.stringify(r.statuses)}`);
    }
    console.log(`1→4→1 ×2: ${g.ok} GETs and ${p.ok} POSTs, all 2xx`);
  });
});
