// NGINX retries a group's requests as the built-in balancer does: the driver renders
// `proxy_next_upstream error timeout` into location_include_file, so an answer (502, 503, 504, 500)
// is passed on, a POST the backend reset is not sent again, and a reset GET or a refused POST is
// tried on another server. Before, the file set none, and a `proxy_next_upstream` inherited from
// nginx.conf's `http {}` (here `http_500 http_502 http_503 http_504 non_idempotent`, a common
// copy-paste) decided instead: each answer and the reset POST went to a second server. Each case
// runs through the built-in balancer too, and NGINX must make as many tries. A throwaway nginx in a
// temp folder, real backends on 127.0.0.1.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { NginxDriver, upstreamName } from '../../src/balancer/index.js';
import {
  config,
  counter,
  ready,
  refusedAddress,
  send,
  startBackend,
  startBalancer,
  type TestBackend,
} from '../balancer/helpers.js';
import { NGINX, nginxLogSize, nginxProblems, startNginx } from '../helpers/nginx.js';

/** What both servers of a case's group do with a request. */
type Behaviour = 500 | 502 | 503 | 504 | 'reset' | 'refused';

interface Case {
  /** The group, and the path NGINX proxies to it. */
  readonly group: string;
  readonly method: 'GET' | 'POST';
  readonly behaviour: Behaviour;
  /** Tries the built-in balancer makes of the request with two such servers. */
  readonly tries: number;
  /** The status the client gets. */
  readonly status: number;
}

const CASES: readonly Case[] = [
  { group: 'get-reset', method: 'GET', behaviour: 'reset', tries: 2, status: 502 },
  { group: 'post-refused', method: 'POST', behaviour: 'refused', tries: 2, status: 502 },
  { group: 'post-reset', method: 'POST', behaviour: 'reset', tries: 1, status: 502 },
  { group: 'get-500', method: 'GET', behaviour: 500, tries: 1, status: 500 },
  { group: 'get-502', method: 'GET', behaviour: 502, tries: 1, status: 502 },
  { group: 'get-503', method: 'GET', behaviour: 503, tries: 1, status: 503 },
  { group: 'get-504', method: 'GET', behaviour: 504, tries: 1, status: 504 },
];

/** Servers is a case's two servers: their addresses and, when they listen, the backends. */
interface Servers {
  readonly addresses: string[];
  readonly backends: TestBackend[];
}

async function startServers(t: TestContext, behaviour: Behaviour): Promise<Servers> {
  if (behaviour === 'refused')
    return { addresses: [await refusedAddress(), await refusedAddress()], backends: [] };
  const handler: http.RequestListener = (req, res) => {
    // The whole request was read (a bodiless one), and the connection goes without a response byte.
    if (behaviour === 'reset') req.socket.destroy();
    else {
      res.statusCode = behaviour;
      res.end(`answered ${behaviour}`);
    }
  };
  const backends = [await startBackend(t, handler), await startBackend(t, handler)];
  return { addresses: backends.map((b) => b.address), backends };
}

/** refusedConnects counts NGINX's logged refused connects from byte `from` of its error log in `dir`. */
async function refusedConnects(dir: string, from: number): Promise<number> {
  const log = (await readFile(join(dir, 'error.log'))).subarray(from).toString('utf8');
  return log.split('\n').filter((line) => line.includes('Connection refused) while connecting to upstream'))
    .length;
}

/** INHERITED is what nginx.conf's `http {}` says of retries: every location inherits it unless it sets its own. */
const INHERITED = '  proxy_next_upstream error timeout http_500 http_502 http_503 http_504 non_idempotent;';

describe('NGINX retries as the built-in balancer does', {
  skip: NGINX === undefined && 'nginx not installed',
}, () => {
  it('a reset GET and a refused POST are tried twice; an answer and a reset POST once', async (t) => {
    const servers = new Map<string, Servers>();
    for (const c of CASES) servers.set(c.group, await startServers(t, c.behaviour));

    // The built-in balancer: one group at a time, the tries it made from its retries counter.
    const { balancer, metrics, port: builtInPort } = await startBalancer(t, config());
    for (const c of CASES) {
      const { addresses } = servers.get(c.group)!;
      balancer.setGroup('web', ready(['a', addresses[0]!], ['b', addresses[1]!]));
      const before = await counter(metrics.retries, { group: 'web' });
      const reply = await send(builtInPort, { method: c.method, path: `/${c.group}/` });
      const tries = (await counter(metrics.retries, { group: 'web' })) - before + 1;
      assert.deepEqual(
        { status: reply.status, tries },
        { status: c.status, tries: c.tries },
        `built-in balancer, ${c.group}`,
      );
    }
    for (const { backends } of servers.values()) for (const b of backends) b.requests = 0;

    // NGINX: `location /` includes the rendered file; each case's path proxies to its group.
    const {
      dir,
      port,
      config: driverConfig,
    } = await startNginx(
      t,
      'scaleplane-nginx-next-upstream-',
      CASES.map((c) => c.group),
      (location) =>
        [
          `      include ${location};`,
          ...CASES.map((c) => `      location /${c.group}/ { proxy_pass http://${upstreamName(c.group)}; }`),
        ].join('\n'),
      { http: INHERITED },
    );

    const driver = new NginxDriver({ config: driverConfig });
    t.after(() => driver.close());
    for (const c of CASES) {
      const { addresses } = servers.get(c.group)!;
      driver.update(c.group, ready(['a', addresses[0]!], ['b', addresses[1]!]));
    }
    await driver.flush();
    assert.equal(await driver.synced(10_000), true, 'nginx runs the rendered files');

    const seen: Record<string, { status: number; tries: number }> = {};
    const want: Record<string, { status: number; tries: number }> = {};
    for (const c of CASES) {
      const { backends } = servers.get(c.group)!;
      const from = await nginxLogSize(dir);
      const reply = await send(port, { method: c.method, path: `/${c.group}/` });
      const tries =
        c.behaviour === 'refused'
          ? await refusedConnects(dir, from)
          : backends.reduce((sum, b) => sum + b.requests, 0);
      seen[c.group] = { status: reply.status, tries };
      want[c.group] = { status: c.status, tries: c.tries };
    }
    assert.deepEqual(seen, want, `status and tries per case through NGINX: ${await nginxProblems(dir)}`);
  });
});
