// Acceptance: with balancer.nginx, a group that has no instance yet (min_instances: 0, scaled later
// by hand or by queue depth) still renders its upstream. nginx.conf proxies to every group's
// `scaleplane_<group>`, and NGINX refuses a config that names an upstream nobody defines (`host
// not found in upstream`): without the block, every sync failed its `nginx -t`, so NGINX never
// got the other groups' instances either.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { type NginxDriverError, renderUpstreams, upstreamName } from '../../src/balancer/index.js';
import { NGINX, nginxSite } from '../helpers/nginx.js';
import { startInProcess } from '../helpers/scaleplane.js';

describe('a group with no instance behind NGINX', {
  skip: NGINX === undefined && 'nginx not installed',
}, () => {
  let dir: string;
  let conf: string;
  let include: string;
  let port: number;
  let app: Scaleplane | undefined;

  before(async () => {
    // `/` goes to web, `/api/` to api: each group has its own upstream in nginx.conf.
    ({ dir, port, conf, include } = await nginxSite('scaleplane-nginx-empty-', () => ({
      upstream: upstreamName('web'),
      location: `      location /api/ { proxy_pass http://${upstreamName('api')}; }`,
    })));
    // NGINX starts from placeholders for both, as an operator's first setup would have them.
    const config = {
      includeFile: include,
      testCommand: '',
      reloadCommand: '',
      debounce: 100,
      method: 'least_conn' as const,
      keepalive: 8,
      maxFails: 3,
      failTimeout: 10_000,
    };
    await writeFile(
      include,
      renderUpstreams(
        [
          { name: 'web', instances: [] },
          { name: 'api', instances: [] },
        ],
        config,
      ),
    );
    execFileSync(NGINX!, ['-c', conf]);
  });

  after(async () => {
    await app?.close();
    if (conf) spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders a placeholder upstream for it, so the other group reaches NGINX', async () => {
    app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  nginx:
    include_file: ${include}
    test_command: ${NGINX} -t -q -c ${conf}
    reload_command: ${NGINX} -c ${conf} -s reload
    pid_file: ${dir}/nginx.pid
    debounce: 100ms
groups:
  web:
    command: node server.js
    min_instances: 1
  api:
    command: node server.js
    min_instances: 0
    max_instances: 1
routes:
  - { path_prefix: /api/, group: api }
  - { path_prefix: /, group: web }
`);
    const nginx = app.nginx!;
    let failure: NginxDriverError | undefined;
    nginx.on('error', (err) => {
      failure = err;
    });
    const synced = await nginx.synced(15_000);
    assert.equal(
      synced,
      true,
      `NGINX got web's instance within 15 s (last failed sync: ${failure?.message ?? 'none'})`,
    );
    const web = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(web.status, 200, "NGINX routes / to web's ready instance");
    const api = await fetch(`http://127.0.0.1:${port}/api/`);
    assert.equal(api.status, 502, 'NGINX answers 502 at once for api, which has no instance');
  });
});
