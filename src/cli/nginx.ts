import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
// The NGINX modules, not the balancer barrel (the whole proxy); the config is loaded only with -c.
import { NginxDriver } from '../balancer/nginx/driver.js';
import {
  DEFAULT_NGINX_TIMEOUTS,
  type NginxTimeouts,
  nginxTimeouts,
  renderUpstreams,
} from '../balancer/nginx/render.js';
import type { BackendInstance } from '../balancer/types.js';
import type { NginxDriverConfig } from '../config/types.js';
import { ApiClient, CliError } from './client.js';

const DEFAULT_API = 'http://127.0.0.1:9090';

/** NGINX_DEFAULTS are the `balancer.nginx` settings used when the config has none. */
export const NGINX_DEFAULTS: NginxDriverConfig = {
  includeFile: '',
  testCommand: 'nginx -t',
  reloadCommand: 'nginx -s reload',
  debounce: 500,
  method: 'least_conn',
  keepalive: 64,
  maxFails: 3,
  failTimeout: 10_000,
};

interface LiveGroup {
  name: string;
  instances: BackendInstance[];
}

async function liveGroups(api: string): Promise<LiveGroup[]> {
  const client = await ApiClient.connect(api);
  const groups = await client.list<LiveGroup>('/api/scalability/groups', 'groups');
  return groups.map((g) => ({
    name: g.name,
    instances: g.instances.map((i) => ({ id: i.id, address: i.address, state: i.state })),
  }));
}

/** nginxConfig is `balancer.nginx` of `file` and the balancer timeouts NGINX gets (defaults without a file). */
async function nginxConfig(
  file: string | undefined,
): Promise<{ config: NginxDriverConfig; timeouts: NginxTimeouts }> {
  if (file === undefined) return { config: NGINX_DEFAULTS, timeouts: DEFAULT_NGINX_TIMEOUTS };
  const { loadConfig } = await import('../config/index.js');
  const { balancer } = await loadConfig(file);
  return { config: balancer.nginx ?? NGINX_DEFAULTS, timeouts: nginxTimeouts(balancer) };
}

/** registerNginx adds `scaleplane nginx render|sync` to the program. */
export function registerNginx(program: Command): void {
  const nginx = program
    .command('nginx')
    .description('drive a real NGINX: upstream blocks rendered from the live group membership');

  nginx
    .command('render')
    .description('print the upstream include file for the live membership of every group')
    .option('-c, --config <file>', 'config file whose balancer.nginx sets method, keepalive, max_fails')
    .option('--api <url>', 'control API URL', DEFAULT_API)
    .action(async (opts: { config?: string; api: string }) => {
      const { config, timeouts } = await nginxConfig(opts.config);
      process.stdout.write(renderUpstreams(await liveGroups(opts.api), config, timeouts));
    });

  nginx
    .command('sync')
    .description('write balancer.nginx.include_file from the live membership, test it and reload nginx')
    .requiredOption('-c, --config <file>', 'config file with balancer.nginx')
    .option('--api <url>', 'control API URL', DEFAULT_API)
    .action(async (opts: { config: string; api: string }) => {
      const { config, timeouts } = await nginxConfig(opts.config);
      if (!config.includeFile) throw new CliError(`${opts.config} has no balancer.nginx.include_file`);
      const driver = new NginxDriver({ config, timeouts });
      for (const group of await liveGroups(opts.api)) driver.update(group.name, group.instances);
      const before = await readFile(config.includeFile, 'utf8').catch(() => undefined);
      // Forced: a file already up to date may not be what NGINX runs (an earlier reload failed).
      // close() also cancels the retry a failed sync schedules: a one-off sync fails and exits.
      const sync = await driver.flush({ force: true }).finally(() => driver.close());
      console.log(
        `${config.includeFile} ${sync.text === before ? 'unchanged' : 'written'}, tested, nginx reloaded`,
      );
    });
}
