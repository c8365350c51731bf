// Acceptance: with the default algorithm (ewma), slow start and the data path on 2 node:cluster
// workers, steady GET and POST load through 1 → 3 → 1 sees no failed request: new instances join
// when ready, removed ones are drained on every worker before they stop.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';

const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 500ms }
  slow_start: 2s
  workers: 2
controller: { interval: 1s }
groups:
  web:
    command: node server.js
    min_instances: 1
    max_instances: 3
`;

describe('scaling under load, data path on 2 workers', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('goes 1 → 3 → 1 with no failed request', async () => {
    app = await startInProcess(CONFIG);
    assert.equal(app.config.balancer.algorithm, 'ewma');
    const { host, port } = app.balancerAddress!;
    const base = `http://${host}:${port}`;
    const gets = startLoad({ url: `${base}/work?ms=3`, concurrency: 4, maxDurationMs: 60_000 });
    const posts = startLoad({
      url: `${base}/`,
      method: 'POST',
      body: 'x'.repeat(1024),
      concurrency: 2,
      maxDurationMs: 60_000,
    });
    await gets.reached(100);
    app.controller.scale('web', 'set', 3);
    await settled(app, 'web', 3, 20_000);
    await gets.reached(300);
    app.controller.scale('web', 'set', 1);
    await settled(app, 'web', 1, 30_000);
    await gets.reached(100);
    const [g, p] = await Promise.all([gets.stop(), posts.stop()]);
    console.log(
      `1→3→1 on 2 workers: ${g.ok} GETs and ${p.ok} POSTs ok; failed ${g.errors + g.non2xx + p.errors + p.non2xx}`,
    );
    for (const [name, r] of [
      ['GET', g],
      ['POST', p],
    ] as const) {
      assert.ok(r.ok > 0, `${name} load made requests`);
      assert.equal(r.errors, 0, `${name} connection errors: ${JSON.stringify(r.errorCodes)}`);
      assert.equal(r.non2xx, 0, `${name} non-2xx: ${JSON.stringify(r.statuses)}`);
    }
  });
});
