import { FORWARDED_FOR_HEADER, PROXY_AUTHORIZATION_HEADER } from '../api/auth.js';
import { apiUrl, describeFailure, retryHint } from '../cli/client.js';
import { deadline } from '../deadline.js';
import { McpError } from './errors.js';

/** ControlApi is what the MCP tools call: the control API over HTTP, with the caller's token. */
export interface ControlApi {
  /**
   * request sends one call and returns its JSON answer. `signal` is the tool call's (the SDK's
   * `extra.signal`): its abort ends the HTTP request at once, its connection closed.
   */
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T>;
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
    async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
      // As the CLI does: the API's path is kept (behind a proxy at /scaleplane/ the calls went to the
      // proxy's root), and a failure names its cause.
      const url = apiUrl(new URL(baseUrl), path);
      const call = `${method} ${url.pathname}`;
      if (signal?.aborted)
        throw new McpError(
          'MCP_CALL_CANCELLED',
          `the call was cancelled before ${call} was sent to the control API at ${url.origin}`,
          { cause: signal.reason },
        );
      // The tool call's cancellation ends the request too: with the timeout alone, a cancelled
      // list_groups or scale_group kept its request (and a connection to the API) open for up to
      // the 15 s, answered to no one; only simulate stopped. A deadline, not AbortSignal.timeout in
      // AbortSignal.any: Node 20 may collect that timeout unfired, and a call to an API that never
      // answered then waited for good (src/deadline.ts). It covers the body too.
      const limit = deadline(timeoutMs, signal);
      let res: Response;
      let text: string;
      try {
        try {
          res = await fetchOnce(url, method, {
            method,
            headers: {
              ...extraHeaders,
              ...(token && { authorization: `Bearer ${token}` }),
              ...(body !== undefined && { 'content-type': 'application/json' }),
            },
            ...(body !== undefined && { body: JSON.stringify(body) }),
            signal: limit.signal,
            // Not followed: fetch drops Authorization on a redirect to another origin, but not
            // `mcp --http`'s own admin token in PROXY_AUTHORIZATION_HEADER, which went wherever the
            // answer pointed (an SSO page in front of the API, say). A control API never redirects.
            redirect: 'manual',
          });
        } catch (err) {
          // Sent, or on its way: a cancelled scale may have reached the API, so it is not called
          // undone (an agent would send it again, and the API apply it twice).
          if (signal?.aborted)
            throw new McpError(
              'MCP_CALL_CANCELLED',
              `the call was cancelled before the control API at ${url.origin} answered ${call}${unknownOutcome(method)}`,
              { cause: err },
            );
          // A hung API was reached: "cannot reach …: TimeoutError: The operation was aborted due to
          // timeout" sent an agent looking for a network fault instead of a stuck controller.
          const why = limit.timedOut
            ? `the control API at ${url.origin} did not answer ${call} within ${seconds(timeoutMs)}${unknownOutcome(method)}`
            : `cannot reach the control API at ${url.origin}: ${describeFailure(err, url)}`;
          throw new McpError('MCP_API_UNREACHABLE', why, { cause: err });
        }
        if (res.status >= 300 && res.status < 400) {
          await res.body?.cancel();
          throw new McpError(
            'MCP_API_ERROR',
            `${res.status}: the control API at ${url.origin} redirected ${call} to ${res.headers.get('location') ?? '(no Location)'}, which is not followed: give --api the URL of the control API itself`,
            { status: res.status },
          );
        }
        try {
          text = await res.text();
        } catch (err) {
          // The timeout covers the body too: a stalled or cut answer threw a bare "The operation was
          // aborted due to timeout" (or "terminated"), naming neither the API nor the call.
          const cancelled = signal?.aborted === true;
          const why = cancelled
            ? 'not finished when the call was cancelled'
            : limit.timedOut
              ? `not finished within ${seconds(timeoutMs)}`
              : `cut off: ${describeFailure(err)}`;
          throw new McpError(
            cancelled ? 'MCP_CALL_CANCELLED' : 'MCP_API_UNREACHABLE',
            `the control API at ${url.origin} began answering ${call} (HTTP ${res.status}) but the answer was ${why}${unknownOutcome(method)}`,
            { cause: err },
          );
        }
      } finally {
        limit.clear();
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = { error: text.slice(0, 200) };
      }
      if (!res.ok) {
        // The API's code goes with its message (`409 SCALEPLANE_OUT_OF_RANGE: …`) and, whole, with
        // the error (McpError.answer): a tool's error said `409: …` only, so an agent could tell a
        // refused scale from a change in effect but not stored (503 SCALEPLANE_NOT_STORED) by the
        // wording alone.
        const answer =
          json !== null && typeof json === 'object' && !Array.isArray(json)
            ? (json as Record<string, unknown>)
            : undefined;
        const error =
          typeof answer?.error === 'string' && answer.error !== '' ? answer.error : `HTTP ${res.status}`;
        const code = typeof answer?.code === 'string' ? ` ${answer.code}` : '';
        throw new McpError(
          'MCP_API_ERROR',
          `${res.status}${code}: ${error}${retryHint(res.headers.get('retry-after'))}`,
          { status: res.status, ...(answer !== undefined && { answer }) },
        );
      }
      return json as T;
    },
  };
}

/**
 * unknownOutcome is what a POST without a whole answer adds: the API may have made the change. Said
 * as the CLI says it: without it, an agent read "did not answer … within 15 s" as a failure and sent
 * the scale-out again, which the API applied twice (a scale-out by N is no idempotent request).
 */
function unknownOutcome(method: 'GET' | 'POST'): string {
  return method === 'POST'
    ? '; it may have been applied: read the group (get_group) before repeating it'
    : '';
}

/** seconds is a bound for people: `15 s`, `250 ms`. */
function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
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

/** The errors of a connection the other side closed or reset: nothing of an answer came. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * fetchOnce is fetch, with one more try of a GET whose connection was lost before any answer. This
 * long-lived server reuses idle connections to the API, which closes them after 5 s idle: a request
 * sent as that close is on its way meets a reset (a loaded run's MCP test saw `read ECONNRESET` on a
 * simulate's GET). Go's net/http retries an idempotent request on a reused connection so, and so does
 * this; a POST (a scale) is never sent twice.
 */
async function fetchOnce(url: URL, method: 'GET' | 'POST', init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const code = (((err as Error).cause ?? err) as NodeJS.ErrnoException).code;
    if (method !== 'GET' || code === undefined || !CONNECTION_LOST.has(code) || init.signal?.aborted)
      throw err;
    return fetch(url, init);
  }
}
