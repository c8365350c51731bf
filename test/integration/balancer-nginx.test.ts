// Acceptance for the NGINX driver, against a real nginx run unprivileged from a generated config in
// a temp folder: after each membership change nginx routes to exactly the ready instances, and a
// steady load sees zero failed requests across the reloads.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync, watch } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AlertManager, alertKeys, watchForAlerts } from '../../src/alerts/index.js';
import {
  type BackendInstance,
  NginxDriver,
  type NginxRetry,
  type NginxSync,
  renderUpstreams,
  upstreamName,
} from '../../src/balancer/index.js';
import { childrenOf, startOf } from '../../src/balancer/nginx/workers.js';
import { KnownProcesses } from '../helpers/kill-groups.js';
import { startLoad } from '../helpers/load.js';
import { getThrough, NGINX, nginxDriverConfig, nginxSite } from '../helpers/nginx.js';
import { freePort } from '../helpers/ports.js';

interface Named {
  name: string;
  server: http.Server;
  port: number;
  address: string;
}

async function backend(name: string, host = '127.0.0.1'): Promise<Named> {
  const server = http.createServer((_req, res) => res.end(name));
  server.keepAliveTimeout = 5000;
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { name, server, port, address: `${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/**
 * holdingBackend answers every request `a` at once, except /slow: it says so (`arrived` emits
 * 'slow') and answers it only once the test calls release().
 */
async function holdingBackend(): Promise<{
  server: http.Server;
  arrived: EventEmitter;
  release: () => void;
}> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const arrived = new EventEmitter();
  const server = http.createServer((req, res) => {
    if (req.url !== '/slow') return res.end('a');
    arrived.emit('slow');
    void released.then(() => res.end('a'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, arrived, release };
}

/** webSite is nginxSite of `prefix` whose `location /` proxies to group web's upstream; starts nothing. */
function webSite(prefix: string) {
  return nginxSite(prefix, () => ({ upstream: upstreamName('web') }));
}

/** scaleInConfig is the NGINX driver's config of the scale-in cases, for the nginx running from `dir`. */
function scaleInConfig(dir: string, conf: string, include: string) {
  return { ...nginxDriverConfig(conf, include), pidFile: join(dir, 'nginx.pid') };
}

/** routesTo waits until `n` fresh-connection GETs in a row see exactly `want`, or gives up after 10 s. */
async function routesTo(port: number, want: string[], n = 24): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    const names = await Promise.all(Array.from({ length: n }, () => getThrough(port)));
    seen = [...new Set(names)].sort();
    if (JSON.stringify(seen) === JSON.stringify([...want].sort())) return seen;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return seen;
}

describe('NGINX driver with a real nginx', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  let dir: string;
  let conf: string;
  let port: number;
  let driver: NginxDriver;
  const backends: Named[] = [];

  before(async () => {
    const site = await nginxSite('scaleplane-nginx-', (folder) => ({
      upstream: upstreamName('web'),
      workers: 2,
      // Empty, unless a test breaks it to make `nginx -t` fail for a reason other than the upstreams.
      http: `  include ${folder}/extra.conf;`,
      location: '      proxy_next_upstream error timeout http_502;',
    }));
    ({ dir, port, conf } = site);
    const include = site.include;
    await writeFile(join(dir, 'extra.conf'), '');
    for (const name of ['a', 'b', 'c']) backends.push(await backend(name));
    driver = new NginxDriver({
      config: nginxDriverConfig(conf, include, { debounce: 50, method: 'random-two-least-conn' }),
    });
    driver.update('web', [ready(backends[0]!)]);
    // The first sync writes the file; nginx is not running yet, so its reload fails: start it. The
    // driver would retry in about a second; flushing now supersedes that retry.
    await assert.rejects(driver.flush(), { code: 'NGINX_RELOAD_FAILED' });
    execFileSync(NGINX!, ['-c', conf]);
    const recovered = await driver.flush();
    assert.deepEqual([recovered.reloaded, recovered.failedAttempts], [true, 1]);
  });

  after(async () => {
    await driver?.close();
    if (conf) spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
    for (const b of backends) {
      b.server.closeAllConnections();
      b.server.close();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function ready(b: Named): BackendInstance {
    return { id: b.name, address: b.address, state: 'ready' };
  }

  it('routes to exactly the ready instances after each change, with no failed request across reloads', async () => {
    const [a, b, c] = backends as [Named, Named, Named];
    assert.deepEqual(await routesTo(port, ['a']), ['a']);
    const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, maxDurationMs: 60_000 });
    const steps: { name: string; instances: BackendInstance[]; want: string[] }[] = [
      { name: 'scale out to 3', instances: [ready(a), ready(b), ready(c)], want: ['a', 'b', 'c'] },
      {
        name: 'b draining, c starting',
        instances: [ready(a), { ...ready(b), state: 'draining' }, { ...ready(c), state: 'starting' }],
        want: ['a'],
      },
      { name: 'back to b and c', instances: [ready(b), ready(c)], want: ['b', 'c'] },
      { name: 'scale in to c', instances: [ready(c)], want: ['c'] },
    ];
    let reloads = 0;
    for (const step of steps) {
      // Several updates within the debounce window: one render, one reload.
      driver.update('web', step.instances.slice(0, 1));
      driver.update('web', step.instances);
      const synced = await once(driver, 'synced');
      if ((synced[0] as { reloaded: boolean }).reloaded) reloads++;
      assert.deepEqual(await routesTo(port, step.want), step.want, step.name);
      await load.reached(100);
    }
    const result = await load.stop();
    console.log(
      `nginx: ${reloads} reloads, ${result.ok} requests ok, non-2xx ${result.non2xx}, errors ${result.errors}`,
    );
    assert.equal(reloads, steps.length);
    assert.equal(result.errors, 0, JSON.stringify(result.errorCodes));
    assert.equal(result.non2xx, 0, JSON.stringify(result.statuses));
  });

  /** A second driver on the running nginx's include file, syncing at once. */
  const driverConfig = () => nginxDriverConfig(conf, join(dir, 'upstreams.conf'));
  // For cases that flush by hand after a refused reload: the driver's own retry (0.5–1 s later) could
  // otherwise reload once the cause is gone, before the test's flush, which then finds nothing to
  // do (`reloaded: false`). That happened on a loaded machine, and the cases after it then found
  // NGINX on the wrong upstreams.
  const NO_RETRY = { initial: 600_000, max: 600_000 };

  it('a config nginx -t rejects is not loaded, and the previous file is put back', async () => {
    const bad = new NginxDriver({ config: driverConfig() });
    // A well-formed address NGINX cannot resolve: `nginx -t` fails on it.
    bad.update('web', [{ id: 'x', address: 'no-such-host.invalid:80', state: 'ready' }]);
    const err = await bad.flush().then(
      () => assert.fail('nginx -t passed'),
      (e: Error & { code: string }) => e,
    );
    await bad.close();
    assert.equal(err.code, 'NGINX_TEST_FAILED');
    // One line, the problem kept, nginx's timestamps and pids dropped (the CLI prints it as is).
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, /failed: \[emerg\] host not found in upstream "no-such-host\.invalid:80"/);
    assert.deepEqual(await routesTo(port, ['c']), ['c'], 'nginx still runs the last good config');
  });

  it('an address carrying directives is left out, not written into the config', async () => {
    const [, , c] = backends as [Named, Named, Named];
    const injectedPort = await freePort();
    const driver = new NginxDriver({ config: driverConfig() });
    try {
      // Before the fix this passed `nginx -t` and added a server answering on injectedPort.
      driver.update('web', [
        ready(c),
        {
          id: 'evil',
          address: `${c.address};\n}\nserver { listen 127.0.0.1:${injectedPort}; return 200 injected; }\nupstream x {\n server 127.0.0.1:1`,
          state: 'ready',
        },
      ]);
      const sync = await driver.flush();
      assert.equal(sync.reloaded, true);
      assert.match(sync.text, /# skipped "evil": address ".*" is not host:port\n/);
      assert.deepEqual(await routesTo(port, ['c']), ['c']);
      await assert.rejects(getThrough(injectedPort), { code: 'ECONNREFUSED' });
    } finally {
      await driver.close();
    }
  });

  it('IPv6 backends, bracketed or not, and weights NGINX would refuse (0.5) are served', async () => {
    const v6 = [await backend('v6a', '::1'), await backend('v6b', '::1')];
    const driver = new NginxDriver({ config: driverConfig() });
    try {
      driver.update('web', [
        { id: 'v6a', address: `[::1]:${v6[0]!.port}`, state: 'ready' },
        // Bare, as a provider might hand it over; before the fix: `nginx -t` "invalid port in upstream".
        { id: 'v6b', address: `::1:${v6[1]!.port}`, state: 'ready', weight: 0.5 },
      ]);
      const sync = await driver.flush();
      assert.match(sync.text, new RegExp(`server \\[::1\\]:${v6[1]!.port} weight=1 `));
      assert.deepEqual(await routesTo(port, ['v6a', 'v6b']), ['v6a', 'v6b']);
    } finally {
      await driver.close();
      for (const b of v6) b.server.close();
    }
  });

  it('no ready instance: NGINX takes the placeholder and answers 502 at once', async () => {
    const [, , c] = backends as [Named, Named, Named];
    const driver = new NginxDriver({ config: driverConfig() });
    try {
      driver.update('web', [{ ...ready(c), state: 'draining' }]);
      assert.equal((await driver.flush()).reloaded, true);
      assert.deepEqual(await routesTo(port, ['status 502']), ['status 502']);
      driver.update('web', [ready(c)]);
      await driver.flush();
      assert.deepEqual(await routesTo(port, ['c']), ['c']);
    } finally {
      await driver.close();
    }
  });

  it('a group scaled past 64 instances is loaded: the upstream zone is sized for its servers', async () => {
    const [, , c] = backends as [Named, Named, Named];
    const driver = new NginxDriver({ config: driverConfig() });
    try {
      // 199 addresses nothing listens on (max_fails takes them out) and c. Before the fix the zone was
      // a fixed 64k, which holds 64 servers: `nginx -t` failed with "ngx_slab_alloc() failed: no
      // memory in upstream zone", and NGINX kept the old upstreams of every group.
      const idle = await freePort();
      const many: BackendInstance[] = Array.from({ length: 199 }, (_, i) => ({
        id: `idle${i}`,
        address: `127.0.${1 + Math.floor(i / 200)}.${1 + (i % 200)}:${idle}`,
        state: 'ready',
      }));
      driver.update('web', [ready(c), ...many]);
      const sync = await driver.flush();
      assert.equal(sync.reloaded, true);
      assert.match(sync.text, /zone scaleplane_web 256k;/);
      driver.update('web', [ready(c)]);
      await driver.flush();
      assert.deepEqual(await routesTo(port, ['c']), ['c']);
    } finally {
      await driver.close();
    }
  });

  /**
   * recovers checks that after a reload of `a` the master refused (extra.conf holds a's port) nginx
   * runs the previous upstreams (c), and that once extra.conf is empty again the driver's reload is
   * taken: a, then c.
   */
  async function recovers(driver: NginxDriver, c: Named) {
    assert.deepEqual(await routesTo(port, ['c']), ['c'], 'nginx runs the previous upstreams');
    await writeFile(join(dir, 'extra.conf'), '');
    assert.equal((await driver.flush()).reloaded, true, 'a reload nginx takes is a success again');
    assert.equal(await driver.synced(10_000), true);
    assert.deepEqual(await routesTo(port, ['a']), ['a']);
    driver.update('web', [ready(c)]);
    await driver.flush();
    assert.deepEqual(await routesTo(port, ['c']), ['c']);
  }

  it('with pid_file, a reload nginx took the signal for but refused is a failed sync, not a success', async () => {
    const [a, , c] = backends as [Named, Named, Named];
    // A port some other process holds: `nginx -t` binds nothing and passes, `nginx -s reload`
    // signals the master and exits 0, and the master, failing to bind, refuses the whole config and
    // keeps its old workers. Before the fix this was a sync like any other: reloaded, in sync.
    await writeFile(join(dir, 'extra.conf'), `server { listen ${a.address}; }\n`);
    const driver = new NginxDriver({
      config: { ...driverConfig(), pidFile: join(dir, 'nginx.pid') },
      reloadTimeout: 3000,
      retry: NO_RETRY,
    });
    driver.on('error', () => {});
    try {
      driver.update('web', [ready(a)]);
      const err = await driver.flush().then(
        () => assert.fail('the refused reload was taken as a success'),
        (e: Error & { code: string }) => e,
      );
      assert.equal(err.code, 'NGINX_RELOAD_FAILED');
      assert.match(err.message, /exited 0, but nginx \(master \d+\) started no new workers within 3000 ms/);
      assert.equal(await driver.synced(100), false, 'a scale-in does not take it for synced');
      await recovers(driver, c);
    } finally {
      await writeFile(join(dir, 'extra.conf'), '');
      await driver.close();
    }
  });

  it('without pid_file, the pid file is asked of nginx -T, and a reload nginx refused is a failed sync', async () => {
    const [a, , c] = backends as [Named, Named, Named];
    // As above, but the config names no pid_file, as most do: NGINX knows its own. Before the fix
    // the driver went without one, and the refused reload was a success with NGINX on c.
    await writeFile(join(dir, 'extra.conf'), `server { listen ${a.address}; }\n`);
    const logged: { level: string; msg: string }[] = [];
    const logger = {
      info: (_: object, msg: string) => logged.push({ level: 'info', msg }),
      warn: (_: object, msg: string) => logged.push({ level: 'warn', msg }),
      error: () => {},
    };
    const driver = new NginxDriver({ config: driverConfig(), reloadTimeout: 3000, logger, retry: NO_RETRY });
    driver.on('error', () => {});
    try {
      assert.equal(driver.pidFile, undefined, 'asked at the first sync whose test passed');
      driver.update('web', [ready(a)]);
      await assert.rejects(driver.flush(), (err: Error & { code: string }) => {
        assert.equal(err.code, 'NGINX_RELOAD_FAILED');
        assert.match(err.message, /exited 0, but nginx \(master \d+\) started no new workers within 3000 ms/);
        return true;
      });
      assert.equal(driver.pidFile, join(dir, 'nginx.pid'));
      assert.deepEqual(await routesTo(port, ['c']), ['c'], 'nginx runs the previous upstreams');
      await writeFile(join(dir, 'extra.conf'), '');
      assert.equal((await driver.flush()).reloaded, true);
      assert.equal(await driver.synced(10_000), true);
      assert.deepEqual(await routesTo(port, ['a']), ['a']);
      driver.update('web', [ready(c)]);
      await driver.flush();
      const said = logged.filter((l) => l.msg.startsWith('nginx: '));
      assert.equal(said.length, 1, 'asked and logged once');
      assert.equal(said[0]!.level, 'info');
      assert.match(
        said[0]!.msg,
        new RegExp(`^nginx: pid file ${join(dir, 'nginx.pid')} \\(from the pid directive in .* -T -q -c `),
      );
    } finally {
      await writeFile(join(dir, 'extra.conf'), '');
      await driver.close();
    }
  });

  it('reload_command kill -HUP $(cat FILE) and a test_command with no -t: the reload is checked through FILE', async () => {
    const [a, , c] = backends as [Named, Named, Named];
    // No pid_file, the test behind a script (no -t to turn into -T) and a reload that signals the
    // master itself (no -s reload to turn either). Before the fix the driver went without a pid
    // file, and a reload the master refused was a success once kill exited 0, NGINX still on c.
    const check = join(dir, 'check-nginx');
    await writeFile(check, `#!/bin/sh\nexec ${NGINX} -t -q -c ${conf}\n`, { mode: 0o755 });
    const pidFile = join(dir, 'nginx.pid');
    const reloadCommand = `kill -HUP $(cat ${pidFile})`;
    const logged: { level: string; msg: string }[] = [];
    const logger = {
      info: (_: object, msg: string) => logged.push({ level: 'info', msg }),
      warn: (_: object, msg: string) => logged.push({ level: 'warn', msg }),
      error: () => {},
    };
    const config = { ...driverConfig(), testCommand: check, reloadCommand };
    const driver = new NginxDriver({ config, reloadTimeout: 3000, logger });
    driver.on('error', () => {});
    try {
      driver.update('web', [ready(c)]);
      assert.equal((await driver.flush()).reloaded, true);
      assert.deepEqual(await routesTo(port, ['c']), ['c']);
      await writeFile(join(dir, 'extra.conf'), `server { listen ${a.address}; }\n`);
      driver.update('web', [ready(a)]);
      const err = await driver.flush().then(
        () => assert.fail(`the refused reload was taken as a success: ${JSON.stringify(logged)}`),
        (e: Error & { code: string }) => e,
      );
      assert.equal(err.code, 'NGINX_RELOAD_FAILED');
      assert.match(err.message, /exited 0, but nginx \(master \d+\) started no new workers within 3000 ms/);
      assert.equal(driver.pidFile, pidFile);
      await recovers(driver, c);
      assert.deepEqual(
        logged.filter((l) => l.msg.startsWith('nginx: ')).map((l) => l.level),
        ['info'],
        'found and logged once',
      );
    } finally {
      await writeFile(join(dir, 'extra.conf'), '');
      await driver.close();
    }
  });

  it('an include file nginx.conf does not include, or includes outside http {}, or no nginx: the error says so', async () => {
    const [, , c] = backends as [Named, Named, Named];
    const other = join(dir, 'other-upstreams.conf');
    const head = `pid ${dir}/other.pid;\nerror_log ${dir}/other.log warn;\nevents { worker_connections 64; }\n`;
    const server = `server { listen 127.0.0.1:1; location / { proxy_pass http://${upstreamName('web')}; } }`;
    const cases = [
      {
        name: 'not included',
        conf: `${head}http {\n  ${server}\n}\n`,
        want: new RegExp(
          `host not found in upstream "scaleplane_web" .*\\(${other} defines upstream scaleplane_web, but nginx does not see it: include ${other} in nginx.conf, inside http \\{\\}\\)$`,
        ),
      },
      {
        name: 'included at the top level',
        conf: `${head}include ${other};\nhttp {\n  ${server}\n}\n`,
        want: new RegExp(
          `"upstream" directive is not allowed here .*\\(${other} holds upstream blocks: include it inside http \\{\\}`,
        ),
      },
      {
        name: 'no nginx',
        conf: undefined,
        want: /not found \(nginx not found: install it, or name it by its full path/,
      },
    ];
    for (const k of cases) {
      const otherConf = join(dir, 'other-nginx.conf');
      if (k.conf !== undefined) await writeFile(otherConf, k.conf);
      const driver = new NginxDriver({
        config: {
          ...driverConfig(),
          includeFile: other,
          testCommand:
            k.conf === undefined ? 'scaleplane-no-such-nginx -t' : `${NGINX} -t -q -c ${otherConf}`,
        },
      });
      driver.on('error', () => {});
      try {
        driver.update('web', [ready(c)]);
        // Before the fix: nginx's words only, which point at nginx.conf or at nothing.
        await assert.rejects(driver.flush(), (err: Error & { code: string }) => {
          assert.equal(err.code, 'NGINX_TEST_FAILED', k.name);
          assert.match(err.message, k.want, k.name);
          return true;
        });
      } finally {
        await driver.close();
      }
    }
  });

  it('after a failed test or reload, converges with no instance change once the cause is gone', async () => {
    const [a, b] = backends as [Named, Named, Named];
    const retrying = new NginxDriver({ config: driverConfig(), retry: { initial: 50, max: 200 } });
    const alerts = new AlertManager();
    watchForAlerts(alerts, { providers: new Map(), journal: new EventEmitter(), nginx: retrying });
    const retries: NginxRetry[] = [];
    retrying.on('retry', (r) => retries.push(r));
    try {
      // 1. Something else in the config breaks `nginx -t`: the new upstreams are not loaded, the
      // last good ones stay, and the driver keeps retrying.
      await writeFile(join(dir, 'extra.conf'), 'this_is_not_a_directive on;\n');
      retrying.update('web', [ready(a)]);
      while (retries.length < 3) await nextRetry(retrying);
      assert.deepEqual(
        retries.map((r) => [r.attempt, r.error.code]),
        [
          [1, 'NGINX_TEST_FAILED'],
          [2, 'NGINX_TEST_FAILED'],
          [3, 'NGINX_TEST_FAILED'],
        ],
      );
      assert.ok(
        retries[1]!.delay >= 50 && retries[2]!.delay >= 100 && retries[2]!.delay <= 200,
        JSON.stringify(retries),
      );
      assert.equal(alerts.isFiring(alertKeys.nginxSync()), true);
      assert.deepEqual(await routesTo(port, ['c']), ['c'], 'nginx still runs the last good config');
      // The cause goes away; membership does not change.
      let synced = nextSync(retrying);
      await writeFile(join(dir, 'extra.conf'), '');
      let sync = await synced;
      assert.equal(sync.reloaded, true);
      assert.ok(sync.failedAttempts >= 3, `failedAttempts ${sync.failedAttempts}`);
      assert.equal(alerts.isFiring(alertKeys.nginxSync()), false, 'the alert resolved');
      assert.deepEqual(await routesTo(port, ['a']), ['a']);

      // 2. The master is gone: the test passes, the reload fails, and every retry reloads again
      // although the file already holds the new upstreams.
      spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
      await gone(join(dir, 'nginx.pid'));
      retries.length = 0;
      retrying.update('web', [ready(b)]);
      while (retries.length < 2) await nextRetry(retrying);
      assert.deepEqual(
        retries.map((r) => [r.attempt, r.error.code]),
        [
          [1, 'NGINX_RELOAD_FAILED'],
          [2, 'NGINX_RELOAD_FAILED'],
        ],
        'the backoff started over after the success',
      );
      assert.doesNotMatch(retries[0]!.error.message, /\n/);
      assert.match(retries[0]!.error.message, /\[error\] .*nginx\.pid.*\(is nginx running\?\)$/);
      assert.equal(alerts.isFiring(alertKeys.nginxSync()), true);
      synced = nextSync(retrying);
      execFileSync(NGINX!, ['-c', conf]);
      sync = await synced;
      assert.ok(sync.failedAttempts >= 2, `failedAttempts ${sync.failedAttempts}`);
      assert.equal(alerts.isFiring(alertKeys.nginxSync()), false, 'the alert resolved');
      assert.equal(retrying.pendingRetry, undefined);
      assert.deepEqual(await routesTo(port, ['b']), ['b']);
    } finally {
      await retrying.close();
      await writeFile(join(dir, 'extra.conf'), '');
      await alerts.close();
    }
  });

  it('a new driver (as `scaleplane up` starts one) tests and reloads even when the file is already current', async () => {
    const [a, , c] = backends as [Named, Named, Named];
    // c, not the b the test before left: only a change shows that NGINX's master has read the file.
    // Had it still been on its way to b when `a` is written below, it would have loaded `a` itself.
    driver.update('web', [ready(c)]);
    await driver.flush({ force: true });
    assert.deepEqual(await routesTo(port, ['c']), ['c']);
    // The include on disk already holds what the new driver renders (a previous run left it, or
    // it was edited), but the running nginx was started on, or last reloaded, another one.
    const config = driverConfig();
    await writeFile(config.includeFile, renderUpstreams([{ name: 'web', instances: [ready(a)] }], config));
    assert.deepEqual(await routesTo(port, ['c']), ['c'], 'nginx still serves its stale upstreams');
    const fresh = new NginxDriver({ config });
    try {
      fresh.update('web', [ready(a)]);
      // Not forced: the sync `up` runs after its first membership update. It used to find the text
      // unchanged and skip `nginx -t` and the reload, so nginx kept serving c.
      const first = await fresh.flush();
      assert.equal(first.reloaded, true);
      assert.deepEqual(await routesTo(port, ['a']), ['a']);
      assert.equal((await fresh.flush()).reloaded, false, 'after that, an unchanged text is skipped');
    } finally {
      await fresh.close();
    }
  });
});

describe('a scale-in whose NGINX master died', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  it('waits for the old worker, which goes on with its request on the removed instance, not for the master', async (t) => {
    // The scale-in's wait looked for the retired workers among the master's children. A master that
    // died (SIGKILL, the OOM killer) has none: its workers are reparented and serve on, the old one
    // with the upstreams it loaded, so the instance was stopped under its requests at once.
    const { dir, port, conf, include } = await webSite('scaleplane-nginx-orphan-');
    const workers = new KnownProcesses();
    t.after(async () => {
      spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
      // Those still ours: a worker that exited during the test may have its pid reused since.
      workers.killAll('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });
    // a holds /slow until the test lets it go.
    const { server: a, arrived, release } = await holdingBackend();
    const b = await backend('b');
    t.after(() => {
      for (const s of [a, b.server]) {
        s.closeAllConnections();
        s.close();
      }
    });
    const addressOf = (s: http.Server) => `127.0.0.1:${(s.address() as AddressInfo).port}`;
    const config = scaleInConfig(dir, conf, include);
    const instanceA = { id: 'a', address: addressOf(a), state: 'ready' as const };
    await writeFile(include, renderUpstreams([{ name: 'web', instances: [instanceA] }], config));
    execFileSync(NGINX!, ['-c', conf]);
    const driver = new NginxDriver({ config });
    t.after(() => driver.close());
    driver.update('web', [instanceA]);
    await driver.flush();
    // A request the worker has on a when a is taken out.
    const slow = new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        })
        .on('error', reject);
    });
    await once(arrived, 'slow');
    driver.update('web', [{ id: 'b', address: b.address, state: 'ready' }]);
    assert.equal((await driver.flush()).reloaded, true);
    const master = Number((await readFile(config.pidFile, 'utf8')).trim());
    for (const pid of await childrenOf(master)) workers.add(pid);
    process.kill(master, 'SIGKILL');
    // The old worker still has the request on a (held until released below): not synced.
    assert.equal(
      await driver.synced(1500),
      false,
      'synced while the old worker still had a request on the removed instance',
    );
    release();
    assert.equal(await slow, '200 a', 'the orphaned old worker finished its request on a');
  });
});

describe('an old NGINX worker that lingers', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  it('holds up the scale-in of an instance it had, not of one added after it', async (t) => {
    // NGINX keeps an old worker until its last connection ends (a WebSocket: hours, unless
    // worker_shutdown_timeout). The scale-in waited for every worker the last reload retired, so
    // each one after it waited out drain_timeout, also for instances that worker never had.
    const { dir, port, conf, include } = await webSite('scaleplane-nginx-linger-');
    t.after(async () => {
      spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
      await rm(dir, { recursive: true, force: true });
    });
    // a holds /slow until the test ends: the worker that proxies it lingers after its reload.
    const { server: a, arrived, release } = await holdingBackend();
    const b = await backend('b');
    t.after(() => {
      release();
      for (const s of [a, b.server]) {
        s.closeAllConnections();
        s.close();
      }
    });
    const config = scaleInConfig(dir, conf, include);
    const instanceA = {
      id: 'a',
      address: `127.0.0.1:${(a.address() as AddressInfo).port}`,
      state: 'ready' as const,
    };
    const instanceB = { id: 'b', address: b.address, state: 'ready' as const };
    await writeFile(include, renderUpstreams([{ name: 'web', instances: [instanceA] }], config));
    execFileSync(NGINX!, ['-c', conf]);
    const driver = new NginxDriver({ config });
    t.after(() => driver.close());
    driver.update('web', [instanceA]);
    await driver.flush();
    // The worker nginx started with (whose upstreams this driver does not know) is gone.
    assert.equal(await driver.synced(10_000), true, 'the first worker exited');
    // The worker of the first reload (upstream: a) gets a request it keeps.
    const slow = new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
        })
        .on('error', (err) => resolve(err.message));
    });
    await once(arrived, 'slow');
    // b joins: that worker is retired, and lingers with its request on a.
    driver.update('web', [instanceA, instanceB]);
    await driver.flush();
    assert.deepEqual(await routesTo(port, ['a', 'b']), ['a', 'b'], 'nginx routes to a and b');
    // b leaves: the reload retires the worker that had a and b, which exits (no request of its
    // own), and the lingering one, which never had b.
    driver.update('web', [instanceA]);
    await driver.flush();
    assert.equal(
      await driver.synced(10_000, { address: instanceB.address }),
      true,
      "b's scale-in waited for a worker that never had b",
    );
    // a leaves: the lingering worker still has a request on a, so a may not stop.
    driver.update('web', [instanceB]);
    await driver.flush();
    assert.equal(
      await driver.synced(1500, { address: instanceA.address }),
      false,
      'synced while an old worker still had a request on a',
    );
    release();
    assert.equal(await slow, '200', 'the lingering worker answered its request from a');
    assert.equal(await driver.synced(10_000, { address: instanceA.address }), true, 'then a may stop');
  });
});

describe('a pid file a dead master left', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  it('naming a pid another process got: no SIGHUP is sent to it, the sync fails saying why', async (t) => {
    // SIGKILL leaves nginx.pid behind, and the kernel hands pids out again. `nginx -s reload`
    // signals whatever has the pid: SIGHUP ends most programs, and the retry did it again each time.
    const { dir, conf, include } = await webSite('scaleplane-nginx-stale-');
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    await once(other, 'spawn');
    t.after(async () => {
      other.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });
    const pidFile = join(dir, 'nginx.pid');
    await writeFile(pidFile, `${other.pid}\n`);
    const driver = new NginxDriver({
      config: nginxDriverConfig(conf, include, { pidFile }),
      reloadTimeout: 500,
    });
    driver.on('error', () => {});
    t.after(() => driver.close());
    driver.update('web', [{ id: 'a', address: '127.0.0.1:1', state: 'ready' }]);
    const err = await driver.flush().then(
      () => assert.fail('a sync with no nginx running succeeded'),
      (e: Error & { code: string }) => e,
    );
    assert.equal(err.code, 'NGINX_RELOAD_FAILED');
    assert.match(
      err.message,
      new RegExp(`names pid ${other.pid}, which is not an nginx master but "sleep 60"`),
    );
    assert.notEqual(await startOf(other.pid!), undefined, 'the process with the stale pid was not signalled');
  });
});

describe('a pid file a killed master left', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  it('naming a pid no process has: the failed reload asks whether nginx runs', async (t) => {
    // SIGKILL (the OOM killer) leaves nginx.pid behind. `nginx -s reload` then says only
    // `kill(N, 1) failed (3: No such process)`, where a missing pid file got "(is nginx running?)".
    const { dir, conf, include } = await webSite('scaleplane-nginx-dead-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const exitedProcess = spawn('true', { stdio: 'ignore' });
    await once(exitedProcess, 'exit');
    const pidFile = join(dir, 'nginx.pid');
    await writeFile(pidFile, `${exitedProcess.pid}\n`);
    const driver = new NginxDriver({ config: { ...scaleInConfig(dir, conf, include), pidFile } });
    driver.on('error', () => {});
    t.after(() => driver.close());
    driver.update('web', [{ id: 'a', address: '127.0.0.1:1', state: 'ready' }]);
    const err = await driver.flush().then(
      () => assert.fail('a sync with no nginx running succeeded'),
      (e: Error & { code: string }) => e,
    );
    assert.equal(err.code, 'NGINX_RELOAD_FAILED');
    assert.match(
      err.message,
      new RegExp(`kill\\(${exitedProcess.pid}, 1\\) failed \\(3: No such process\\) \\(is nginx running\\?`),
      'the reload of a dead master says nginx may not run',
    );
  });
});

describe('right after a reload', { skip: NGINX === undefined && 'nginx not installed' }, () => {
  it('old workers still take new connections; synced() waits them out, and then none meets the old upstreams', async (t) => {
    // A reload counts once the master started new workers, but the master lets the old ones accept
    // for another 100 ms (ngx_msleep(100) before it tells them to quit): 47 of 60 connections made
    // right after flush() here met the placeholder and got 502 "no live upstreams". nginx-scale-in
    // started its load in that window once (3 × 502 before any scale-in): it waits on synced().
    const { dir, port, conf, include } = await webSite('scaleplane-nginx-window-');
    t.after(async () => {
      spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
      await rm(dir, { recursive: true, force: true });
    });
    const a = await backend('a');
    t.after(() => {
      a.server.closeAllConnections();
      a.server.close();
    });
    const config = scaleInConfig(dir, conf, include);
    await writeFile(include, renderUpstreams([{ name: 'web', instances: [] }], config));
    execFileSync(NGINX!, ['-c', conf]);
    const driver = new NginxDriver({ config });
    t.after(() => driver.close());
    driver.update('web', []);
    await driver.flush();
    assert.equal(await driver.synced(10_000), true, 'the placeholder reached NGINX');
    driver.update('web', [{ id: 'a', address: a.address, state: 'ready' }]);
    assert.equal((await driver.flush()).reloaded, true);
    assert.equal(await driver.synced(10_000), true, 'the workers the reload retired exited within 10 s');
    const answers = await Promise.all(Array.from({ length: 12 }, () => getThrough(port)));
    assert.deepEqual(
      [...new Set(answers)],
      ['a'],
      'after synced(), a new connection met a worker still on the placeholder upstream',
    );
  });

  it('without pid_file and with a test_command that has no -t: the pid file is asked of the reload command', async (t) => {
    // As above, with no pid_file and the test behind a script (no -t to turn into -T). Before, the
    // driver then went without a pid file: flush() and synced() resolved once `nginx -s reload`
    // exited, while the old workers still took connections on the placeholder upstream. The reload
    // command finds the master through the config's pid, so its `-s reload` turned into -T says where.
    const { dir, port, conf, include } = await webSite('scaleplane-nginx-reload-pid-');
    t.after(async () => {
      spawnSync(NGINX!, ['-c', conf, '-s', 'stop']);
      await rm(dir, { recursive: true, force: true });
    });
    const a = await backend('a');
    t.after(() => {
      a.server.closeAllConnections();
      a.server.close();
    });
    const check = join(dir, 'check-nginx');
    await writeFile(check, `#!/bin/sh\nexec ${NGINX} -t -q -c ${conf}\n`, { mode: 0o755 });
    const config = { ...nginxDriverConfig(conf, include), testCommand: check };
    assert.equal(config.pidFile, undefined);
    await writeFile(include, renderUpstreams([{ name: 'web', instances: [] }], config));
    execFileSync(NGINX!, ['-c', conf]);
    const driver = new NginxDriver({ config });
    t.after(() => driver.close());
    driver.update('web', []);
    await driver.flush();
    assert.equal(driver.pidFile, join(dir, 'nginx.pid'), 'found through the reload command');
    assert.equal(await driver.synced(10_000), true, 'the placeholder reached NGINX');
    driver.update('web', [{ id: 'a', address: a.address, state: 'ready' }]);
    assert.equal((await driver.flush()).reloaded, true);
    assert.equal(await driver.synced(10_000), true, 'the workers the reload retired exited within 10 s');
    const answers = await Promise.all(Array.from({ length: 12 }, () => getThrough(port)));
    assert.deepEqual(
      [...new Set(answers)],
      ['a'],
      'after synced(), a new connection met a worker still on the placeholder upstream',
    );
  });
});

/** nextRetry resolves with the driver's next `retry` event (`events.once` would reject on its `error`). */
function nextRetry(driver: NginxDriver): Promise<NginxRetry> {
  return new Promise((resolve) => driver.once('retry', resolve));
}

/** nextSync resolves with the driver's next `synced` event, whatever fails before it. */
function nextSync(driver: NginxDriver): Promise<NginxSync> {
  return new Promise((resolve) => driver.once('synced', resolve));
}

/** gone resolves once nginx's master removed its pid file on exit (`-s stop` only signals it). */
async function gone(pidFile: string): Promise<void> {
  const watcher = watch(dirname(pidFile));
  try {
    // Watching before the first look: a removal in between is still an event.
    while (existsSync(pidFile)) await once(watcher, 'change');
  } finally {
    watcher.close();
  }
}
