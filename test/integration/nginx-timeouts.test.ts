// The balancer's timeouts reach a real NGINX: with `location_include_file`, the driver writes
// proxy_connect_timeout (connect_timeout), proxy_read_timeout and the others (request_timeout) for
// nginx.conf to include in its proxying locations. Before, only the upstreams were rendered, and
// NGINX proxied with its own 60 s defaults whatever the config said: a backend slower than
// request_timeout answered through NGINX after all, and a blackholed one held a request for 60 s
// before NGINX tried another. A throwaway nginx in a temp folder, real backends on 127.0.0.1.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { NginxDriver, nginxTimeouts, upstreamName } from '../../src/balancer/index.js';
import { startBackend, startBlackhole } from '../balancer/helpers.js';
import { NGINX, nginxProblems, startNginx } from '../helpers/nginx.js';

/** timedGet is a GET through NGINX: its status and how long it took, or 'no answer' after `bound` ms. */
function timedGet(
  port: number,
  path: string,
  bound: number,
): Promise<{ status: number; ms: number } | 'no answer'> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.setTimeout(bound, () => {
      req.destroy();
      resolve('no answer');
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
  });
}

describe('balancer timeouts through NGINX', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  it('request_timeout and connect_timeout take effect in NGINX through location_include_file', async (t) => {
    // `/` goes to `slow`, `/c/` to `conn`; both take the timeouts included in `location /`.
    const { dir, port, config } = await startNginx(
      t,
      'scaleplane-nginx-timeouts-',
      ['slow', 'conn'],
      (location) =>
        `      include ${location};\n      location /c/ { proxy_pass http://${upstreamName('conn')}; }`,
    );

    const slow = await startBackend(t, (_req, res) => {
      const timer = setTimeout(() => res.end('slow'), 3000);
      res.on('close', () => clearTimeout(timer));
    });
    const hole = await startBlackhole(t);
    const good = await startBackend(t, (_req, res) => res.end('good'));
    const driver = new NginxDriver({
      config,
      timeouts: nginxTimeouts({ requestTimeout: 1000, connectTimeout: 300, upstreamKeepAliveTimeout: 4000 }),
    });
    t.after(() => driver.close());
    driver.update('slow', [{ id: 'slow', address: slow.address, state: 'ready' }]);
    driver.update('conn', [
      { id: 'hole', address: hole, state: 'ready' },
      { id: 'good', address: good.address, state: 'ready' },
    ]);
    await driver.flush();
    assert.equal(await driver.synced(10_000), true, 'nginx runs the rendered files');

    // proxy_read_timeout 1s: the backend had the request and answers after 3 s. Before: 200 at 3 s.
    const reply = await timedGet(port, '/', 8000);
    assert.notEqual(reply, 'no answer');
    if (reply === 'no answer') return;
    assert.equal(
      reply.status,
      504,
      `status ${reply.status} after ${Math.round(reply.ms)} ms: ${await nginxProblems(dir)}`,
    );
    assert.ok(reply.ms < 2500, `answered after ${Math.round(reply.ms)} ms, not at request_timeout`);
    assert.equal(slow.requests, 1, 'the backend had the request');

    // proxy_connect_timeout 300ms: a connect to the blackhole is given up early and the request
    // tried on `good` (least_conn picks each once). Before: NGINX's 60 s connect timeout.
    for (let i = 0; i < 2; i++) {
      const got = await timedGet(port, '/c/', 5000);
      assert.notEqual(got, 'no answer', `request ${i + 1}: ${await nginxProblems(dir)}`);
      if (got === 'no answer') return;
      assert.equal(got.status, 200, `request ${i + 1}: ${await nginxProblems(dir)}`);
      assert.ok(got.ms < 2500, `request ${i + 1} answered after ${Math.round(got.ms)} ms`);
    }
    assert.equal(good.requests, 2, 'both requests reached the good backend');
  });

  it('a request every server fails is tried on 3 of them, as the built-in balancer tries it', async (t) => {
    // proxy_next_upstream_tries from location_include_file: one try and MAX_RETRIES retries. Before,
    // none was rendered and NGINX's default (0, no limit) sent the request to all 4 servers.
    // NGINX's own proxy_next_upstream (error timeout): a backend that closes on the request is an error.
    const { dir, port, config } = await startNginx(
      t,
      'scaleplane-nginx-tries-',
      ['web'],
      (location) => `      include ${location};`,
    );

    const failing = [];
    for (let i = 0; i < 4; i++) failing.push(await startBackend(t, (req) => req.socket.destroy()));
    const driver = new NginxDriver({ config });
    t.after(() => driver.close());
    driver.update(
      'web',
      failing.map((b, i) => ({ id: `f${i}`, address: b.address, state: 'ready' as const })),
    );
    await driver.flush();
    assert.equal(await driver.synced(10_000), true, 'nginx runs the rendered files');

    const reply = await timedGet(port, '/', 5000);
    assert.notEqual(reply, 'no answer');
    if (reply === 'no answer') return;
    assert.equal(reply.status, 502);
    const tries = failing.map((b) => b.requests);
    assert.equal(
      tries.reduce((a, b) => a + b, 0),
      3,
      `tries per server ${JSON.stringify(tries)}: ${await nginxProblems(dir)}`,
    );
    assert.ok(
      tries.every((n) => n <= 1),
      `no server is tried twice: ${JSON.stringify(tries)}`,
    );
  });
});
