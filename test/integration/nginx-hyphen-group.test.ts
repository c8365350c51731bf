// Group names are DNS labels, so `web-api` is a common one; its upstream is `scaleplane_web_api`
// (see upstreamName). An nginx.conf that proxies to `scaleplane_web-api` fails `nginx -t` with
// NGINX's words only, which name neither the include file nor the right name: the error says it.
// Against a real `nginx -t` of a generated config in a temp folder (nothing is started).
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NginxDriver, upstreamName } from '../../src/balancer/index.js';
import { NGINX, nginxConf, nginxDriverConfig, nginxFolder } from '../helpers/nginx.js';

describe('a group name with "-"', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  it('proxied to by its name as written: the failed test says the upstream has "_" for "-"', async (t) => {
    const dir = await nginxFolder('scaleplane-nginx-hyphen-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const conf = join(dir, 'nginx.conf');
    const include = join(dir, 'upstreams.conf');
    // `nginx -t` binds nothing: the port is only written.
    await writeFile(conf, nginxConf({ dir, port: 7700, include, upstream: 'scaleplane_web-api' }));
    assert.equal(upstreamName('web-api'), 'scaleplane_web_api');
    const driver = new NginxDriver({
      config: nginxDriverConfig(conf, include),
    });
    t.after(() => driver.close());
    driver.update('web-api', [{ id: 'a', address: '127.0.0.1:7701', state: 'ready' }]);
    await assert.rejects(driver.flush(), (err: Error & { code: string }) => {
      assert.equal(err.code, 'NGINX_TEST_FAILED');
      assert.match(
        err.message,
        /host not found in upstream "scaleplane_web-api" .*\(upstream names have "_" for a group name's "-": proxy_pass http:\/\/scaleplane_web_api; in nginx\.conf\)$/,
      );
      return true;
    });
  });
});
