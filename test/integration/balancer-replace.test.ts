// An instance that keeps failing its health checks is replaced by its provider — a new instance
// ready first, then the bad one drained and stopped — journaled, with zero failed GETs under load.
import assert from 'node:assert/strict';
import http from 'node:http';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { startLoad } from '../helpers/load.js';
import { nextEntry, settled, startInProcess } from '../helpers/scaleplane.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');

const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 250ms, unhealthy_threshold: 2, replace_after: 2s }
controller: { interval: 1s }
groups:
  web:
    command: node sickening-app.mjs
    min_instances: 2
    max_instances: 2
`;

function get(url: string): Promise<number> {
  return new Promise((done, fail) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      })
      .on('error', fail);
  });
}

describe('an instance failing its health checks', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('is replaced (new one ready first), journaled, and no GET fails', async () => {
    app = await startInProcess(CONFIG, FIXTURES);
    await settled(app, 'web', 2, 20_000);
    const provider = app.providers.get('web')!;
    const { host, port } = app.balancerAddress!;
    const gets = startLoad({ url: `http://${host}:${port}/`, concurrency: 4, maxDurationMs: 60_000 });
    await gets.reached(200);

    // Never fewer ready instances than desired while the replacement runs.
    let minReady = Number.POSITIVE_INFINITY;
    const onChange = () => {
      minReady = Math.min(minReady, provider.instances().filter((i) => i.state === 'ready').length);
    };
    provider.on('change', onChange);

    const victim = provider.instances()[0]!;
    const unhealthy = nextEntry(
      app,
      (e) => e.reasons[0] === 'InstanceUnhealthy' && e.inputs.instance === victim.id,
      10_000,
    );
    const replaced = nextEntry(
      app,
      (e) => e.reasons[0] === 'Replaced' && e.inputs.instance === victim.id,
      40_000,
    );
    assert.equal(await get(`http://${victim.address}/sicken`), 200);

    await unhealthy;
    const scrape = await app.metrics.registry.metrics();
    assert.match(scrape, new RegExp(`scaleplane_backend_healthy\\{group="web",instance="${victim.id}"\\} 0`));
    await replaced;
    provider.off('change', onChange);
    await gets.reached(200);
    const g = await gets.stop();

    const instances = provider.instances();
    const journal = app.controller.events({ group: 'web' }).filter((e) => e.source === 'health');
    console.log(
      `${victim.id} replaced: instances now ${instances.map((i) => `${i.id}:${i.state}`).join(', ')}; ` +
        `min ready during it ${minReady}; GETs ok ${g.ok}, non-2xx ${g.non2xx}, errors ${g.errors}; ` +
        `journal: ${journal.map((e) => e.reasons[0]).join(' → ')}`,
    );
    assert.ok(!instances.some((i) => i.id === victim.id), 'the failing instance is gone');
    assert.equal(instances.filter((i) => i.state === 'ready').length, 2);
    assert.ok(minReady >= 2, `ready dropped to ${minReady}`);
    assert.deepEqual(
      journal.filter((e) => e.inputs.instance === victim.id).map((e) => e.reasons[0]),
      ['InstanceUnhealthy', 'ReplaceUnhealthy', 'Replaced'],
    );
    assert.equal(g.errors, 0, JSON.stringify(g.errorCodes));
    assert.equal(g.non2xx, 0, JSON.stringify(g.statuses));

    // The same entries through the control API (what `scaleplane events` prints).
    const api = await fetch(`http://127.0.0.1:${app.apiAddress!.port}/api/scalability/events?group=web`, {
      headers: { authorization: 'Bearer integration-token' },
    });
    const { events } = (await api.json()) as { events: { source: string; reasons: string[] }[] };
    const reasons = events.filter((e) => e.source === 'health').map((e) => e.reasons[0]);
    for (const reason of ['InstanceUnhealthy', 'ReplaceUnhealthy', 'Replaced'])
      assert.ok(reasons.includes(reason), `${reason} in ${reasons}`);
  });
});
