/**
 * The MCP tests' common setup: an SDK client over streamable HTTP that presents a bearer token, an
 * McpHttpServer on a free loopback port (in front of a live control API, or of any `apiUrl`), a
 * simulate call long enough that it ends only when cancelled, and serveStdio on in-memory pipes.
 */
import { PassThrough } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  MAX_TRACE_SECONDS,
  MCP_PATH,
  McpHttpServer,
  type McpHttpServerOptions,
  serveStdio,
} from '../../src/mcp/index.js';
import { type ApiHarness, startApi } from './api-harness.js';
import { until } from './until.js';

/** connectMcp connects an SDK client to the MCP endpoint `url`, with `token` as its bearer (none: no header). */
export async function connectMcp(url: URL, token?: string): Promise<Client> {
  const client = new Client({ name: 'scaleplane-test', version: '1.0.0' });
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

/** McpEndpoint is a listening McpHttpServer and the URL of its MCP endpoint. */
export interface McpEndpoint {
  mcp: McpHttpServer;
  url: URL;
}

/**
 * startMcp starts an McpHttpServer on a free 127.0.0.1 port that calls the control API at `apiUrl`;
 * `options` are the server's others (logger, simulateTimeoutMs, …). The caller closes `mcp`.
 */
export async function startMcp(
  apiUrl: string,
  options: Omit<McpHttpServerOptions, 'listen' | 'apiUrl'> = {},
): Promise<McpEndpoint> {
  const mcp = new McpHttpServer({ ...options, listen: { host: '127.0.0.1', port: 0 }, apiUrl });
  const { port } = await mcp.listen();
  return { mcp, url: new URL(`http://127.0.0.1:${port}${MCP_PATH}`) };
}

/** McpOverApi is a live control API (startApi) with an McpHttpServer in front of it. */
export interface McpOverApi extends McpEndpoint {
  api: ApiHarness;
  /** close stops the MCP server, then the API. */
  close(): Promise<void>;
}

/** startMcpOverApi starts a control API (startApi's defaults) and startMcp in front of it. */
export async function startMcpOverApi(
  options: Omit<McpHttpServerOptions, 'listen' | 'apiUrl'> = {},
): Promise<McpOverApi> {
  const api = await startApi();
  const { mcp, url } = await startMcp(api.base, options);
  return {
    api,
    mcp,
    url,
    close: async () => {
      await mcp.close();
      await api.close();
    },
  };
}

/** CancellableCall is a tool call under way, its AbortController and how it ended. */
export interface CancellableCall {
  abort: AbortController;
  /** `answered: <content>` if the server answered it, else the client's error message. */
  outcome: Promise<string>;
}

/** callCancellable calls tool `name` with `args`, cancellable through `abort`, waiting up to 10 minutes. */
export function callCancellable(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): CancellableCall {
  const abort = new AbortController();
  const outcome = client
    .callTool({ name, arguments: args }, undefined, { signal: abort.signal, timeout: 600_000 })
    .then(
      (result) => `answered: ${JSON.stringify(result.content).slice(0, 200)}`,
      (err: Error) => err.message,
    );
  return { abort, outcome };
}

/**
 * startEndlessSimulate starts a simulate of minutes of CPU (a week of trace, 10000 instances, a 1 s
 * interval): it ends only if it is cancelled.
 */
export function startEndlessSimulate(client: Client): CancellableCall {
  const trace = Array.from({ length: MAX_TRACE_SECONDS }, (_, i) => (i % 2) * 1e6);
  return callCancellable(client, 'simulate', {
    trace,
    min: 10_000,
    max: 10_000,
    interval: 1,
    peak_instances: 10_000,
  });
}

/** StdioSession is serveStdio in this process on in-memory pipes, spoken to in JSON-RPC lines. */
export interface StdioSession {
  /** The server's stdin: end() it as a client that hangs up. */
  stdin: PassThrough;
  /** write sends one message as a line. */
  write(message: object): void;
  /** answered is the message that answers request `id`, if one came. */
  answered(id: number | string): Record<string, unknown> | undefined;
  /** out is everything the server wrote. */
  out(): string;
  /** ended is serveStdio's promise: it settles when the session ends. */
  ended: Promise<void>;
}

/**
 * startStdioSession runs serveStdio against the control API at `apiUrl` with `token`, and initializes
 * the session as a client does (initialize, answered, then notifications/initialized).
 */
export async function startStdioSession(apiUrl: string, token: string): Promise<StdioSession> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const answered = (id: number | string): Record<string, unknown> | undefined =>
    out
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((message) => message.id === id);
  const ended = serveStdio(apiUrl, token, stdin, stdout);
  const write = (message: object): void => {
    stdin.write(`${JSON.stringify(message)}\n`);
  };
  write({
    jsonrpc: '2.0',
    id: 'init',
    method: 'initialize',
    params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'pipe', version: '1' } },
  });
  await until(() => answered('init') !== undefined, 10_000, 'the answer to initialize');
  write({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { stdin, write, answered, out: () => out, ended };
}
