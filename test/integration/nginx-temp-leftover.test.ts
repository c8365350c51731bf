// The include file is written through a temp file and a rename. A temp file that a crash left beside
// it (Scaleplane killed between the write and the rename) must not be read by NGINX: with a glob
// include (`include sites-enabled/*;`, Debian's default) it was a second copy of the upstreams, and
// every later `nginx -t` failed on a duplicate upstream. Against a real `nginx -t` of a generated
// config in a temp folder (nothing is started).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NginxDriver } from '../../src/balancer/index.js';
import { includeTempPath } from '../../src/balancer/nginx/driver.js';
import { NGINX, nginxConf, nginxDriverConfig, nginxFolder } from '../helpers/nginx.js';

describe('a temp file a crash left beside the include', {
  skip: NGINX === undefined && 'nginx not installed',
}, () => {
  it('is not read through a glob include: the next sync passes nginx -t', async (t) => {
    const dir = await nginxFolder('scaleplane-nginx-leftover-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const enabled = join(dir, 'sites-enabled');
    await mkdir(enabled);
    const include = join(enabled, 'scaleplane');
    const conf = join(dir, 'nginx.conf');
    // `nginx -t` binds nothing: the port is only written.
    await writeFile(
      conf,
      nginxConf({ dir, port: 7700, include: `${enabled}/*`, upstream: 'scaleplane_web' }),
    );
    const driver = new NginxDriver({
      config: nginxDriverConfig(conf, include, { reloadCommand: 'true' }),
    });
    t.after(() => driver.close());
    driver.update('web', [{ id: 'a', address: '127.0.0.1:7701', state: 'ready' }]);
    await driver.flush();
    // What a crash between writeFile and rename leaves: the next text, under the temp name of the
    // process that crashed (another pid: this one's would be written over and renamed away).
    await writeFile(includeTempPath(include, process.pid + 1), await readFile(include, 'utf8'));

    driver.update('web', [
      { id: 'a', address: '127.0.0.1:7701', state: 'ready' },
      { id: 'b', address: '127.0.0.1:7702', state: 'ready' },
    ]);
    await driver.flush();
    assert.match(await readFile(include, 'utf8'), /127\.0\.0\.1:7702/, 'the new instance is in the include');
  });
});
