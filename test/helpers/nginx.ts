// A throwaway NGINX for integration tests: its own folder, config, pid and logs, started and
// stopped by the test, never the machine's nginx.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { renderUpstreams, upstreamName } from '../../src/balancer/index.js';
import type { NginxDriverConfig } from '../../src/config/types.js';
import { freePort } from './ports.js';

/** NGINX is the nginx binary, or undefined when none is installed (the tests then skip). */
export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => spawnSync(p, ['-v']).status === 0);

const TEMP_PATHS = ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];

/** nginxFolder makes a folder for one NGINX, with the temp folders its workers write to. */
export async function nginxFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  // Workers drop to `nobody` when the master runs as root: let them into the temp folders.
  await chmod(dir, 0o755);
  for (const sub of TEMP_PATHS) {
    await mkdir(join(dir, sub));
    await chmod(join(dir, sub), 0o777);
  }
  return dir;
}

/** NginxConfOptions shapes nginxConf's file. */
export interface NginxConfOptions {
  dir: string;
  port: number;
  /** The upstreams file Scaleplane writes, included in `http {}`. */
  include: string;
  /** The upstream `location /` proxies to. */
  upstream: string;
  /** @defaultValue 1 */
  workers?: number;
  /** More lines for `http {}`, before the server. */
  http?: string;
  /** More lines for `location /`. */
  location?: string;
}

/**
 * nginxConf is a whole nginx.conf: everything it writes stays in `dir`, one request per client
 * connection (a reload makes old workers close idle client keep-alives, and a client that then
 * sends on one sees a reset: the tests are about the upstream side), keep-alive to the instances as
 * README asks for.
 */
export function nginxConf(options: NginxConfOptions): string {
  const { dir, port, include, upstream } = options;
  return `worker_processes ${options.workers ?? 1};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
${TEMP_PATHS.map((sub) => `  ${sub === 'body' ? 'client_body' : sub}_temp_path ${dir}/${sub};`).join('\n')}
  include ${include};
${options.http ?? ''}
  keepalive_timeout 0;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${options.location ?? ''}
    }
  }
}
`;
}

/** nginxLogSize is the size of nginxConf's error log (in `dir`) now, where nginxProblems may start. */
export async function nginxLogSize(dir: string): Promise<number> {
  return (await stat(join(dir, 'error.log')).catch(() => undefined))?.size ?? 0;
}

/**
 * nginxProblems is what nginxConf's error log (in `dir`) says beyond notices from byte `from` on,
 * its last `max` lines: why NGINX answered 502 (a refused connect to which instance, "no live
 * upstreams"), for a failure message. The log is gone with the folder once the test ends.
 */
export async function nginxProblems(dir: string, from = 0, max = 20): Promise<string> {
  const text = await readFile(join(dir, 'error.log'))
    .then((bytes) => bytes.subarray(from).toString('utf8'))
    .catch((err: Error) => `(no error log: ${err.message})`);
  const lines = text.split('\n').filter((line) => line !== '' && !line.includes('[notice]'));
  return lines.length === 0 ? '(nothing beyond notices)' : lines.slice(-max).join('\n');
}

/**
 * nginxDriverConfig is an NginxDriver config for the NGINX of `conf` (nginxConf's): `nginx -t` and
 * reloads on that file, syncing at once, least_conn, keep-alive as README asks; `more` overrides.
 */
export function nginxDriverConfig(
  conf: string,
  includeFile: string,
  more: Partial<NginxDriverConfig> = {},
): NginxDriverConfig {
  return {
    includeFile,
    testCommand: `${NGINX} -t -q -c ${conf}`,
    reloadCommand: `${NGINX} -c ${conf} -s reload`,
    debounce: 0,
    method: 'least_conn',
    keepalive: 16,
    maxFails: 3,
    failTimeout: 10_000,
    ...more,
  };
}

/** getThrough is the body of a GET / through NGINX on `port`, on a fresh connection, or `status N`. */
export function getThrough(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(res.statusCode === 200 ? body : `status ${res.statusCode}`));
      })
      .on('error', reject);
  });
}

/**
 * nginxSite makes an nginxFolder of `prefix` and writes its nginx.conf: nginxConf's on a free port,
 * including upstreams.conf from the folder, with what `more(dir)` gives (the upstream `location /`
 * proxies to, more lines). Gives the folder, the port and both files' paths; starts nothing.
 */
export async function nginxSite(
  prefix: string,
  more: (dir: string) => Omit<NginxConfOptions, 'dir' | 'port' | 'include'>,
): Promise<{ dir: string; port: number; conf: string; include: string }> {
  const dir = await nginxFolder(prefix);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const include = join(dir, 'upstreams.conf');
  await writeFile(conf, nginxConf({ dir, port, include, ...more(dir) }));
  return { dir, port, conf, include };
}

/**
 * startNginx runs a real nginx (nginxConf's, in an nginxFolder of `prefix`, on a free port) whose
 * `location /` proxies to the first of `groups` and holds `location(locationFile)`, with
 * `options.http` in `http {}`; started as an operator starts it: placeholder upstreams for `groups`
 * and an empty location_include_file for nginx.conf to include. Gives its folder, port and an
 * NginxDriver config (nginxDriverConfig's) that writes both files. Stopped and removed after the test.
 */
export async function startNginx(
  t: TestContext,
  prefix: string,
  groups: string[],
  location: (locationFile: string) => string,
  options: { http?: string } = {},
) {
  const { dir, port, conf, include } = await nginxSite(prefix, (folder) => ({
    upstream: upstreamName(groups[0]!),
    location: location(join(folder, 'location.conf')),
    ...(options.http !== undefined && { http: options.http }),
  }));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const locationFile = join(dir, 'location.conf');
  const config = nginxDriverConfig(conf, include, {
    locationIncludeFile: locationFile,
    pidFile: join(dir, 'nginx.pid'),
  });
  await writeFile(
    include,
    renderUpstreams(
      groups.map((name) => ({ name, instances: [] })),
      config,
    ),
  );
  await writeFile(locationFile, '');
  execFileSync(NGINX!, ['-c', conf]);
  t.after(() => spawnSync(NGINX!, ['-c', conf, '-s', 'stop']));
  return { dir, port, config };
}
