import type { Command } from 'commander';
import { readTokenFile, tokenFromEnv } from '../api/index.js';
import { parseListen } from '../config/index.js';

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
      const { McpHttpServer, MCP_PATH, serveStdio } = await import('./server.js');
      const api = new URL(opts.api);
      if (opts.http === undefined) {
        // stdio: this process acts for the operator who started it, with the CLI's token.
        let token = tokenFromEnv();
        if (!token && ['127.0.0.1', 'localhost', '[::1]'].includes(api.hostname))
          token = await readTokenFile(Number(api.port || 80));
        await serveStdio(api.href, token);
        return;
      }
      const listen = parseListen(opts.http === true ? '127.0.0.1:9091' : opts.http);
      const server = new McpHttpServer({ listen, apiUrl: api.href });
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
