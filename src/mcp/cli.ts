import type { Command } from 'commander';
import { envToken, isLoopback } from '../api/auth.js';
import { apiPort, readTokenFile } from '../api/token-file.js';
import { CliError, parseApiUrl, plainHttpWarning } from '../cli/client.js';
import { parseListen } from '../config/listen.js';
import type { HostPort } from '../config/types.js';

/**
 * mcpHttpWarnings are what `mcp --http` says once at start about API tokens in clear, as the CLI
 * does for its own token: each MCP client's token (and the server's own, from `ownToken`, which
 * vouches for them) goes with every tool call to `api`, in clear over http:// to another machine;
 * and a listener beyond loopback is sent the clients' tokens over plain HTTP (it serves no TLS).
 */
export function mcpHttpWarnings(api: URL, listen: HostPort, ownToken: string | undefined): string[] {
  const warnings: string[] = [];
  if (api.protocol === 'http:' && !isLoopback(api.hostname.replace(/^\[(.*)\]$/, '$1'))) {
    const own = ownToken === undefined ? '' : `, and this server's own (${ownToken}),`;
    warnings.push(
      `warning: --api ${api.origin} is plain http:// to another machine: each MCP client's API token${own} goes in clear with every tool call; use https:// (api.tls on the server)`,
    );
  }
  if (!isLoopback(listen.host)) {
    const at = listen.host.includes(':')
      ? `[${listen.host}]:${listen.port}`
      : `${listen.host}:${listen.port}`;
    warnings.push(
      `warning: --http ${at} is plain http:// beyond loopback: MCP clients send it their API tokens in clear; keep it on loopback, or put a TLS proxy in front`,
    );
  }
  return warnings;
}

/**
 * httpListen reads `mcp --http [listen]` (no value: 127.0.0.1:9091). A bad one is a usage error
 * (exit 2) naming the flag: it was exit 1 with only `invalid listen address "…"`, as if the
 * server had failed.
 */
export function httpListen(value: string | true): HostPort {
  try {
    return parseListen(value === true ? '127.0.0.1:9091' : value);
  } catch (err) {
    throw new CliError(`--http: ${(err as Error).message}`, 2);
  }
}

/**
 * registerMcp adds `scaleplane mcp` to the program: stdio by default, streamable HTTP with --http.
 */
export function registerMcp(program: Command): void {
  program
    .command('mcp')
    .description(
      'serve Scaleplane as MCP tools (list_groups, get_group, scale_group, resize_group, get_events, simulate)',
    )
    .option('--api <url>', 'control API URL', 'http://127.0.0.1:9090')
    .option('--http [listen]', 'streamable HTTP instead of stdio, on host:port (default 127.0.0.1:9091)')
    .action(async (opts: { api: string; http?: string | true }) => {
      // Loaded here so that other commands do not pay for the MCP SDK.
      const { checkProxyToken, McpHttpServer, MCP_PATH, serveStdio } = await import('./server.js');
      // As the other API commands: `localhost:9090` (no scheme) was "Invalid URL", exit 1, or a hang.
      const api = parseApiUrl(opts.api);
      // The operator's token: stdio acts with it; --http vouches with it for the clients it calls for.
      const fromEnv = envToken();
      let token = fromEnv?.token;
      const listen = opts.http === undefined ? undefined : httpListen(opts.http);
      // As the other API commands: this token goes with every call (stdio); over --http each
      // client's own goes with its calls (and this one vouches for them). Over http:// to another
      // machine, in clear: before, --http said nothing when it had no token of its own.
      const warnings =
        listen === undefined
          ? [plainHttpWarning(api, fromEnv?.source)].filter((w) => w !== undefined)
          : mcpHttpWarnings(api, listen, fromEnv?.source);
      for (const warning of warnings) process.stderr.write(`${warning}\n`);
      if (!token && ['127.0.0.1', 'localhost', '[::1]'].includes(api.hostname))
        token = await readTokenFile(apiPort(api));
      if (listen === undefined) {
        await serveStdio(api.href, token);
        return;
      }
      const proxy =
        token === undefined
          ? {
              use: false,
              warning:
                "no token of its own (SCALEPLANE_API_KEY, or the local token file): every MCP client's failed authentications count against this server's address, shared by all of them and by local API clients",
            }
          : await checkProxyToken(api.href, token);
      if (proxy.warning !== undefined) process.stderr.write(`warning: ${proxy.warning}\n`);
      const server = new McpHttpServer({
        listen,
        apiUrl: api.href,
        ...(proxy.use && token !== undefined && { proxyToken: token }),
      });
      const bound = await server.listen();
      process.stderr.write(
        `MCP (streamable HTTP) on http://${bound.host}:${bound.port}${MCP_PATH}; clients send Authorization: Bearer <API token>\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });
}
