// Acceptance: under steady GET load, SIGKILL of an instance fails no GET (retried elsewhere) and the
// instance is ejected within one health interval; a POST in flight to it gets a 502, not retried.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Scaleplane } from '../../src/app.js';
import type { Ejection } from '../../src/balancer/index.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { startLoad } from '../helpers/load.js';
import { settled, startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const HEALTH_INTERVAL_MS = 1000;
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
/** POST_HOLD_MS is how long each POST is held by its instance: ample time to kill one holding some. */
const POST_HOLD_MS = 5000;

const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  algorithm: least-connections
  health: { path: /healthz, interval: ${HEALTH_INTERVAL_MS}ms }
controller: { interval: 1s }
groups:
  web:
    command: node provider-app.mjs
    min_instances: 3
    max_instances: 3
`;

/** held asks an instance directly how many slow requests it is holding now. */
async function held(address: string): Promise<number> {
  const res = await fetch(`http://${address}/held`);
  return Number(await res.text());
}

function post(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => resolve(-1));
    req.end('order');
  });
}

describe('instance killed under load', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('no GET fails, the instance is ejected within one health interval, its POST gets 502', async () => {
    app = await startInProcess(CONFIG, FIXTURES);
    await settled(app, 'web', 3, 20_000);
    const { host, port } = app.balancerAddress!;
    const base = `http://${host}:${port}`;
    const gets = startLoad({ url: `${base}/`, concurrency: 4, maxDurationMs: 40_000 });
    await gets.reached(200);

    // Slow POSTs: least-connections spreads them, so each instance holds some while we kill one.
    const posts = Array.from({ length: 6 }, () => post(`${base}/slow?ms=${POST_HOLD_MS}`));
    // Where they landed is asked of the instances themselves: the balancer's in-flight counts
    // include the GETs, so on a busy machine the busiest backend could hold no POST at all (seen:
    // all six POSTs 200). The victim is the instance holding the most of them.
    const instances = app.providers.get('web')!.instances();
    // Recorded now: the victim is killed after waiting for the POSTs, by when it may have exited.
    const groups = new KnownGroups();
    for (const i of instances) groups.add(i.pid!);
    let holding: number[] = [];
    await until(
      async () => {
        holding = await Promise.all(instances.map((i) => held(i.address)));
        return holding.reduce((sum, n) => sum + n, 0) === 6;
      },
      20_000,
      'the six POSTs held by the instances',
    );
    const victimPosts = Math.max(...holding);
    const victim = instances[holding.indexOf(victimPosts)]!;

    // Out of rotation by whichever comes first: passive ejection (connect errors), the local
    // provider seeing the process exit, or the active health check.
    let how = 'still in rotation';
    app.balancer.on('ejection', (e: Ejection) => {
      if (e.id === victim.id && how === 'still in rotation') how = `ejected (${e.reason})`;
    });
    const killedAt = performance.now();
    // The instance is its own process group (shell and node): kill all of it at once.
    const killed = groups.kill(victim.pid!, 'SIGKILL');
    assert.equal(killed.sent, true, killed.message);
    const deadline = killedAt + 10_000;
    for (;;) {
      const b = app.balancer.stats('web').backends.find((m) => m.id === victim.id);
      if (b === undefined && how === 'still in rotation') how = 'removed (provider saw the exit)';
      if (b === undefined || b.ejected || !b.healthy || performance.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const ejectedAfter = performance.now() - killedAt;

    const statuses = await Promise.all(posts);
    await gets.reached(400);
    const g = await gets.stop();
    console.log(
      `killed ${victim.id} (holding ${victimPosts} of the POSTs): out of rotation after ${ejectedAfter.toFixed(0)} ms, ${how}; ` +
        `GETs ok ${g.ok}, non-2xx ${g.non2xx}, errors ${g.errors}; POST statuses ${statuses.join(',')}`,
    );
    assert.ok(ejectedAfter < HEALTH_INTERVAL_MS, `ejected after ${ejectedAfter} ms`);
    assert.equal(g.errors, 0, JSON.stringify(g.errorCodes));
    assert.equal(g.non2xx, 0, JSON.stringify(g.statuses));
    // The victim's POSTs fail with 502 (a retry would have made them 200s elsewhere: a POST is
    // never retried once sent), the rest succeed.
    assert.equal(statuses.filter((s) => s === 502).length, victimPosts, `POST statuses ${statuses}`);
    assert.equal(statuses.filter((s) => s === 200).length, 6 - victimPosts, `POST statuses ${statuses}`);
  });
});
