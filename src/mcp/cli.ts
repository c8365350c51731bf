import type { Command } from 'commander';
import { envToken } from '../api/auth.js';
import { readTokenFile } from '../api/token-file.js';
import { parseApiUrl, plainHttpWarning } from '../cli/client.js';
import { parseListen } from '../config/listen.js';

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
      // As the other API commands: this token goes with every call (stdio) or vouches for each
      // client (--http); over http:// to another machine, in clear.
      const plain = plainHttpWarning(api, fromEnv?.source);
      if (plain !== undefined) process.stderr.write(`${plain}\n`);
      if (!token && ['127.0.0.1', 'localhost', '[::1]'].includes(api.hostname))
        token = await readTokenFile(Number(api.port || 80));
      if (opts.http === undefined) {
        await serveStdio(api.href, token);
        return;
      }
      const listen = parseListen(opts.http === true ? '127.0.0.1:9091' : opts.http);
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
