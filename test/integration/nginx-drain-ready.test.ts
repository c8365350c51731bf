// A Kubernetes or AWS scale-in drains its victims before the engine removes them, and until then
// their provider lists them ready: the NGINX driver must take such an instance out of its upstream
// when asked to stop it, as the balancer's own drain does, not keep it there until it is gone.
// Against a real nginx run unprivileged from a generated config in a temp folder.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type BackendInstance, NginxDriver, upstreamName } from '../../src/balancer/index.js';
import {
  getThrough,
  NGINX,
  nginxConf,
  nginxDriverConfig,
  nginxFolder,
  nginxProblems,
} from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';

async function backend(name: string): Promise<{ server: http.Server; instance: BackendInstance }> {
  const server = http.createServer((_req, res) => res.end(name));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, instance: { id: name, address, state: 'ready' } };
}

/** served counts, by answer, `n` GETs through NGINX made one after the other. */
async function served(port: number, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const answer = await getThrough(port);
    counts[answer] = (counts[answer] ?? 0) + 1;
  }
  return counts;
}

describe('an instance drained while its provider lists it ready', {
  skip: NGINX === undefined && 'nginx not installed',
}, () => {
  it('is out of NGINX once synced() resolves, and stays out until a listing lets it go', async (t) => {
    const dir = await nginxFolder('scaleplane-nginx-drain-ready-');
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    const include = join(dir, 'upstreams.conf');
    t.after(async () => {
      spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
      await rm(dir, { recursive: true, force: true });
    });
    const a = await backend('a');
    const b = await backend('b');
    t.after(() => {
      for (const s of [a.server, b.server]) {
        s.closeAllConnections();
        s.close();
      }
    });
    await writeFile(conf, nginxConf({ dir, port, include, upstream: upstreamName('web') }));
    const driver = new NginxDriver({
      config: nginxDriverConfig(conf, include, { pidFile: join(dir, 'nginx.pid') }),
    });
    t.after(() => driver.close());
    driver.update('web', [a.instance, b.instance]);
    // The first sync writes the include; nginx, not running yet, is started on it.
    await assert.rejects(driver.flush(), { code: 'NGINX_RELOAD_FAILED' });
    execFileSync(NGINX!, ['-c', conf]);
    await driver.flush();
    assert.equal(await driver.synced(10_000), true);
    const before = await served(port, 10);
    assert.deepEqual(
      Object.keys(before).sort(),
      ['a', 'b'],
      `before the scale-in: ${JSON.stringify(before)}`,
    );

    // The scale-in's drain hook, as app.ts calls it: a is still listed ready by its provider.
    const synced = await driver.synced(10_000, { address: a.instance.address, group: 'web', id: 'a' });
    assert.equal(synced, true);
    const after = await served(port, 10);
    assert.deepEqual(
      after,
      { b: 10 },
      `NGINX still sent to a after synced() resolved: ${JSON.stringify(after)}; ${await nginxProblems(dir)}`,
    );

    // Another listing that still has a ready (the engine has not removed it yet) keeps it out.
    driver.update('web', [a.instance, b.instance]);
    assert.equal((await driver.flush()).text.includes(a.instance.address), false);
    // Listed once as starting (ReturnToService puts back a survivor of a scale-in that did not
    // happen), then ready: it is a member anew.
    driver.update('web', [{ ...a.instance, state: 'starting' }, b.instance]);
    driver.update('web', [a.instance, b.instance]);
    assert.equal((await driver.flush()).text.includes(a.instance.address), true);
    assert.equal(await driver.synced(10_000), true);
    const back = await served(port, 10);
    assert.deepEqual(Object.keys(back).sort(), ['a', 'b'], `once a is put back: ${JSON.stringify(back)}`);
  });
});
