import { FORWARDED_FOR_HEADER, PROXY_AUTHORIZATION_HEADER } from '../api/auth.js';
import { apiUrl, describeFailure } from '../cli/client.js';
import { McpError } from './errors.js';

/** ControlApi is what the MCP tools call: the control API over HTTP, with the caller's token. */
export interface ControlApi {
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

/**
 * createControlApi returns a client of the control API at `baseUrl` that presents `token`. Every
 * check (token, role, rate limits, min/max) stays the API's: the MCP server adds no privileges.
 */
export function createControlApi(
  baseUrl: string,
  token: string | undefined,
  timeoutMs = 15_000,
  /** Sent with every request, e.g. the proxy headers of `mcp --http` (proxyHeaders). */
  extraHeaders: Record<string, string> = {},
): ControlApi {
  return {
    async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      // As the CLI does: the API's path is kept (behind a proxy at /scaleplane/ the calls went to the
      // proxy's root), and a failure names its cause.
      const url = apiUrl(new URL(baseUrl), path);
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            ...extraHeaders,
            ...(token && { authorization: `Bearer ${token}` }),
            ...(body !== undefined && { 'content-type': 'application/json' }),
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new McpError(
          'MCP_API_UNREACHABLE',
          `cannot reach the control API at ${url.origin}: ${describeFailure(err, url)}`,
          {
            cause: err,
          },
        );
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = { error: text.slice(0, 200) };
      }
      if (!res.ok) {
        const error = (json as { error?: string }).error ?? `HTTP ${res.status}`;
        throw new McpError('MCP_API_ERROR', `${res.status}: ${error}`, { status: res.status });
      }
      return json as T;
    },
  };
}

/**
 * proxyHeaders are what `mcp --http` adds to its API calls for the client at `clientAddress`
 * when it has an admin token of its own: the API then counts that client's failed
 * authentications apart from every other caller of the MCP server, and from local clients.
 */
export function proxyHeaders(
  proxyToken: string | undefined,
  clientAddress: string | undefined,
): Record<string, string> {
  if (proxyToken === undefined || clientAddress === undefined) return {};
  return { [PROXY_AUTHORIZATION_HEADER]: `Bearer ${proxyToken}`, [FORWARDED_FOR_HEADER]: clientAddress };
}
