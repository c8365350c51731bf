import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isLoopback, isLoopbackHostHeader } from '../api/auth.js';
import type { HostPort } from '../config/index.js';
import { VERSION } from '../version.js';
import { type ControlApi, createControlApi, proxyHeaders } from './api.js';
import { McpError } from './errors.js';
import { TOKEN_CHECK_PATH, TokenGate } from './token-gate.js';
import { registerTools } from './tools.js';

/** MCP_PATH is where the streamable HTTP endpoint answers. */
export const MCP_PATH = '/mcp';

/** MAX_MCP_BODY_BYTES bounds one HTTP message (a week-long simulate trace fits). */
export const MAX_MCP_BODY_BYTES = 8 * 1024 * 1024;

/**
 * MAX_MCP_IN_FLIGHT bounds the requests served at once; more are answered 503 with Retry-After.
 * A tool call lasts milliseconds (simulate, the long one, is capped at one per core but one), so
 * 16 at once is room for many agents; and it bounds what requests can hold: 16 bodies of at most
 * 8 MiB (128 MiB, and only from callers whose token the API accepted) plus their parsed messages.
 */
export const MAX_MCP_IN_FLIGHT = 16;

/** MCP_RETRY_AFTER_SECONDS is the Retry-After of a 503 over MAX_MCP_IN_FLIGHT: calls end within it. */
export const MCP_RETRY_AFTER_SECONDS = 1;

/**
 * createMcpServer builds an MCP server with Scaleplane's tools; `api` gives the control API client per
 * call, `simulateTimeoutMs` bounds a simulate (SIMULATE_TIMEOUT_MS).
 */
export function createMcpServer(
  api: (authToken: string | undefined) => ControlApi,
  simulateTimeoutMs?: number,
): McpServer {
  const server = new McpServer(
    { name: 'scaleplane', version: VERSION },
    {
      instructions:
        'Scaleplane runs instance groups behind a load balancer and scales them. Read with list_groups, ' +
        'get_group and get_events (each decision carries reason codes); change with scale_group and ' +
        'resize_group (refused outside min..max); try policies offline with simulate.',
    },
  );
  registerTools(server, api, simulateTimeoutMs);
  return server;
}

/**
 * serveStdio runs the MCP server on stdin/stdout, calling the control API at `apiUrl` with `token`
 * (the operator's, from SCALEPLANE_API_KEY or the local token file). Resolves when stdin closes
 * and every request read before that has been answered.
 */
export async function serveStdio(
  apiUrl: string,
  token: string | undefined,
  stdin: Readable = process.stdin,
  stdout: Writable = process.stdout,
): Promise<void> {
  const server = createMcpServer(() => createControlApi(apiUrl, token));
  const transport = new StdioServerTransport(stdin, stdout);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  await server.connect(transport);
  // The client hung up (closed our stdin): the end of the session. The SDK's transport does not
  // watch for it, so nothing was left to wait on and `scaleplane mcp` exited 13 (an unsettled
  // top-level await) instead of 0. It closes once the requests read before it are answered:
  // closing aborts the handlers still running, and `printf '<request>' | scaleplane mcp` got
  // no answer to a tools/call that was still waiting on the API.
  const pending = new Set<string | number>();
  let ended = false;
  const closeWhenIdle = (): void => {
    if (ended && pending.size === 0) void transport.close();
  };
  const receive = transport.onmessage;
  transport.onmessage = (message) => {
    if ('method' in message && 'id' in message) pending.add(message.id);
    receive?.(message);
    // A cancelled request is never answered (the SDK sends nothing for it): still counted, the
    // session never closed after stdin did, and `scaleplane mcp` exited 13 (an unsettled top-level
    // await) instead of 0 once nothing else was left to wait on.
    if ('method' in message && message.method === 'notifications/cancelled' && !('id' in message)) {
      const id = (message.params as { requestId?: string | number } | undefined)?.requestId;
      if (id !== undefined && pending.delete(id)) closeWhenIdle();
    }
  };
  const send = transport.send.bind(transport);
  transport.send = async (message) => {
    await send(message);
    if (!('method' in message) && 'id' in message && message.id !== undefined) {
      pending.delete(message.id);
      closeWhenIdle();
    }
  };
  stdin.once('end', () => {
    ended = true;
    closeWhenIdle();
  });
  await closed;
}

/**
 * checkProxyToken asks the API whether `token` may vouch for MCP clients (an admin token, see
 * proxyHeaders). `use` is false only when the API refused it; an API not up yet cannot say, and the
 * token is used (were it no admin token, each client would be told so by the API's 401).
 */
export async function checkProxyToken(
  apiUrl: string,
  token: string,
): Promise<{ use: boolean; warning?: string }> {
  try {
    await createControlApi(apiUrl, token, 5_000, proxyHeaders(token, '127.0.0.1')).request(
      'GET',
      TOKEN_CHECK_PATH,
    );
    return { use: true };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (err instanceof McpError && (err.status === 401 || err.status === 403))
      return {
        use: false,
        warning: `the control API refused this server's own token as a proxy's (${why}): every MCP client's failed authentications count against this server's address, shared by all of them and by local API clients`,
      };
    return {
      use: true,
      warning: `could not check this server's own token with the control API (${why}); using it`,
    };
  }
}

/** McpHttpServerOptions configures the streamable HTTP transport. */
export interface McpHttpServerOptions {
  listen: HostPort;
  /** Control API base URL, such as http://127.0.0.1:9090. */
  apiUrl: string;
  logger?: { warn(obj: object, msg?: string): void };
  /** Time allowed to receive a whole request (headers within a third of it). @defaultValue 30000 (ms) */
  requestTimeoutMs?: number;
  /** Requests served at once; more get 503. @defaultValue MAX_MCP_IN_FLIGHT */
  maxInFlight?: number;
  /** How long a token the API accepted is let in without asking again. @defaultValue TOKEN_ACCEPTED_TTL_MS (5000 ms) */
  tokenAcceptedTtlMs?: number;
  /**
   * This server's own admin token. With it, every API call names the MCP client it is made for
   * (proxyHeaders), so the API's failed-authentication limit counts each client apart; without it
   * all of them, and every local client of the API, share 127.0.0.1's.
   */
  proxyToken?: string;
  /** How long one simulate may run before it is stopped. @defaultValue SIMULATE_TIMEOUT_MS (120 s) */
  simulateTimeoutMs?: number;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
    ...headers,
  });
  res.end(json);
}

/**
 * CLOSE goes with answers sent before the body was read: the connection ends after the answer, so
 * Node does not read (and discard) the rest of the body to keep it alive.
 */
const CLOSE = { connection: 'close' };

const rpcError = (code: number, message: string) => ({ jsonrpc: '2.0', error: { code, message }, id: null });

/**
 * McpHttpServer serves MCP over streamable HTTP at `/mcp`, stateless: every POST gets a fresh
 * server and transport. Each request must carry `Authorization: Bearer <token>`, which is passed on
 * to the control API for every tool call, so the API's own checks (token, role, rate limits)
 * decide; a request without one is refused with 401 before MCP sees it. The token is checked with
 * the API (TokenGate) before the body is read, and at most `maxInFlight` requests are served at once.
 */
export class McpHttpServer {
  readonly #options: McpHttpServerOptions;
  readonly #server: Server;
  readonly #gate: TokenGate;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #closed: Promise<void> | undefined;
  /** The answers still owed to single-request POSTs, by callerKey: what a cancellation ends. */
  readonly #calls = new Map<string, Set<ServerResponse>>();

  constructor(options: McpHttpServerOptions) {
    this.#options = options;
    // Slow clients (slowloris) are cut as the control API cuts them: 10 s for the headers, 30 s
    // for the whole request, checked every second. Node's defaults (60 s, 300 s, checked every
    // 30 s) let a client that trickles a body hold a connection for 5 minutes.
    const requestTimeout = options.requestTimeoutMs ?? 30_000;
    const limits = {
      headersTimeout: Math.ceil(requestTimeout / 3),
      requestTimeout,
      connectionsCheckingInterval: Math.min(1_000, requestTimeout),
    };
    this.#gate = new TokenGate({
      apiUrl: options.apiUrl,
      ...(options.tokenAcceptedTtlMs !== undefined && { acceptedTtlMs: options.tokenAcceptedTtlMs }),
    });
    this.#maxInFlight = options.maxInFlight ?? MAX_MCP_IN_FLIGHT;
    if (!Number.isSafeInteger(this.#maxInFlight) || this.#maxInFlight < 1)
      throw new TypeError(`maxInFlight: must be an integer >= 1, got ${options.maxInFlight}`);
    this.#server = createServer(limits, (req, res) => {
      if (this.#inFlight >= this.#maxInFlight) {
        return sendJson(
          res,
          503,
          rpcError(-32000, `busy: ${this.#inFlight} requests in flight, the most at once; retry later`),
          { 'retry-after': String(MCP_RETRY_AFTER_SECONDS), ...CLOSE },
        );
      }
      this.#inFlight += 1;
      res.once('close', () => {
        this.#inFlight -= 1;
      });
      this.#handle(req, res).catch((err: unknown) => {
        this.#options.logger?.warn({ err }, 'MCP request failed');
        if (!res.headersSent) sendJson(res, 500, rpcError(-32603, 'internal error'));
        else res.destroy();
      });
    });
  }

  /** listen binds the server (port 0 → a free port) and returns the address. */
  async listen(): Promise<HostPort> {
    this.#server.listen(this.#options.listen.port, this.#options.listen.host);
    await once(this.#server, 'listening');
    return { host: this.#options.listen.host, port: (this.#server.address() as AddressInfo).port };
  }

  /** inFlight is how many requests are being served (at most `maxInFlight`). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** close stops the server; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closed;
  }

  /** track keeps `res` under `key` until it is answered or its client is gone. */
  #track(key: string, res: ServerResponse): void {
    const owed = this.#calls.get(key) ?? new Set<ServerResponse>();
    this.#calls.set(key, owed);
    owed.add(res);
    res.once('close', () => {
      owed.delete(res);
      if (owed.size === 0 && this.#calls.get(key) === owed) this.#calls.delete(key);
    });
  }

  /**
   * cancel ends the calls that the `notifications/cancelled` in `message` name, for this token. Each
   * POST gets a server of its own, so the notification reached one that never saw the call, and the
   * call ran on: a simulate the client had given up on (the SDK client's 60 s timeout, or its
   * AbortSignal) kept a core and the only simulation slot for up to ~17 minutes, every other simulate
   * refused meanwhile. The call's POST is answered 202 with no body (no response is owed to a
   * cancelled request), which closes its server and aborts its handler, as a client hanging up does.
   * A call named by two POSTs of the token at once (two clients counting ids alike) is left alone.
   */
  #cancel(token: string, message: unknown): void {
    for (const id of cancelledIds(message)) {
      const owed = this.#calls.get(callerKey(token, id));
      if (owed === undefined || owed.size !== 1) continue;
      const res = owed.values().next().value!;
      if (!res.headersSent) res.writeHead(202, { 'content-length': '0' }).end();
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = requestPath(req.url);
    if (path === undefined)
      return sendJson(res, 400, rpcError(-32600, `request target: expected a path such as ${MCP_PATH}`));
    if (path !== MCP_PATH)
      return sendJson(res, 404, { error: `no route for ${path}; MCP is at ${MCP_PATH}` });
    const foreign = foreignPage(req.headers.origin, req.headers.host, isLoopback(this.#options.listen.host));
    if (foreign !== undefined) return sendJson(res, 403, rpcError(-32000, foreign), CLOSE);
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    if (!match) {
      return sendJson(res, 401, rpcError(-32001, 'missing bearer token (the control API token)'), {
        'www-authenticate': 'Bearer realm="scaleplane"',
        ...CLOSE,
      });
    }
    if (req.method !== 'POST') {
      return sendJson(res, 405, rpcError(-32000, 'stateless server: POST only'), { allow: 'POST' });
    }
    const token = match[1]!;
    const forClient = proxyHeaders(this.#options.proxyToken, req.socket.remoteAddress);
    // Before the body: a client the API refuses costs one small API call, not up to 8 MiB read and parsed.
    const verdict = await this.#gate.check(token, forClient);
    if (!verdict.ok) {
      const code = verdict.status === 401 ? -32001 : -32000;
      return sendJson(res, verdict.status, rpcError(code, verdict.message), {
        ...(verdict.status === 401 && {
          'www-authenticate': 'Bearer realm="scaleplane", error="invalid_token"',
        }),
        ...CLOSE,
      });
    }
    const body = await readBody(req);
    if (body === undefined)
      return sendJson(res, 413, rpcError(-32600, `body over ${MAX_MCP_BODY_BYTES} bytes`), CLOSE);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return sendJson(res, 400, rpcError(-32700, 'parse error'));
    }
    const protoKey = protoKeyPath(parsed);
    if (protoKey !== undefined)
      return sendJson(
        res,
        400,
        rpcError(-32602, `${protoKey}: unknown field (a "__proto__" key is never one)`),
      );
    this.#cancel(token, parsed);
    const callKey = singleRequestId(parsed);
    if (callKey !== undefined) this.#track(callerKey(token, callKey), res);
    const server = createMcpServer(
      (authToken) => createControlApi(this.#options.apiUrl, authToken, undefined, forClient),
      this.#options.simulateTimeoutMs,
    );
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    const authed = Object.assign(req, { auth: { token, clientId: 'bearer', scopes: [] } });
    await transport.handleRequest(authed, res, parsed);
  }
}

/**
 * callerKey names a request of one caller: its id under its token's digest (the token itself is never
 * kept). Stateless HTTP has no session, so the token is what ties a cancellation to the call.
 */
function callerKey(token: string, id: string | number): string {
  return `${createHash('sha256').update(token).digest('hex')} ${JSON.stringify(id)}`;
}

/** singleRequestId is the id of a POST that carries one request, not a batch or a notification. */
function singleRequestId(message: unknown): string | number | undefined {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return undefined;
  const { id, method } = message as { id?: unknown; method?: unknown };
  return typeof method === 'string' && (typeof id === 'string' || typeof id === 'number') ? id : undefined;
}

/** cancelledIds are the request ids that the `notifications/cancelled` of a POST name. */
function cancelledIds(message: unknown): (string | number)[] {
  const messages = Array.isArray(message) ? message : [message];
  return messages.flatMap((m) => {
    if (
      m === null ||
      typeof m !== 'object' ||
      (m as { method?: unknown }).method !== 'notifications/cancelled'
    )
      return [];
    const id = (m as { params?: { requestId?: unknown } }).params?.requestId;
    return typeof id === 'string' || typeof id === 'number' ? [id] : [];
  });
}

/**
 * foreignPage says why a request comes from a web page that may not call this server, or undefined.
 * The MCP spec asks servers to check Origin against DNS rebinding: a page whose name was made to
 * resolve to 127.0.0.1 is same-origin with itself and may send tokens. Its guesses reached the API
 * as this server's own, from 127.0.0.1: they spent the failed-authentication budget of every local
 * MCP client (of the local CLI too, without a proxy token), and 10 of them got those clients 429.
 * Non-browser clients send no Origin; a browser on this machine sends a loopback one. On a loopback
 * listener, a Host that is no loopback name is such a page as well (as `/metrics` on the API).
 */
export function foreignPage(
  origin: string | undefined,
  host: string | undefined,
  loopbackListener: boolean,
): string | undefined {
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      // `null` (a sandboxed frame, a file) or garbage: no page of this machine's.
    }
    if (originHost === undefined || !isLoopbackHostHeader(originHost))
      return `Origin ${JSON.stringify(origin)} is not a page of this machine: MCP over HTTP answers no other web page`;
  }
  if (loopbackListener && !isLoopbackHostHeader(host))
    return `Host ${JSON.stringify(host ?? '')} is not a loopback name; this server listens on loopback only`;
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_MCP_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * requestPath is the path of a request target, or undefined for one that is no URL (`//[`): that
 * threw in the handler, which answered 500 and logged "MCP request failed" for a bad request.
 */
function requestPath(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? '/', 'http://localhost').pathname;
  } catch {
    return undefined;
  }
}

/**
 * protoKeyPath is where the first `__proto__` key of a parsed message is (`params.arguments.__proto__`),
 * if it has one. The SDK checks messages by copying them key by key, and assigning `__proto__` sets a
 * prototype instead of a key: the key vanished, so a tool ran without an argument the control API
 * refuses as an unknown field. Iterative: JSON.parse accepts nesting deeper than the call stack.
 */
function protoKeyPath(message: unknown): string | undefined {
  const pending: [value: unknown, path: string][] = [[message, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    if (value === null || typeof value !== 'object') continue;
    for (const [key, child] of Object.entries(value)) {
      const at = Array.isArray(value) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
      if (key === '__proto__') return at;
      pending.push([child, at]);
    }
  }
  return undefined;
}
