// The modules, not the api barrel: that one loads the server and the balancer (~0.6 s per CLI run).
import { API_KEY_FILE_ENV, envToken, isLoopback } from '../api/auth.js';
import { apiPort, inspectTokenFile, tokenFilePath } from '../api/token-file.js';
import { redactQuery } from '../config/url.js';

/** CliError is a failure the CLI reports as one line and a non-zero exit. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * ApiUnreachableError is a call that got no answer at all (refused, reset, no route); `code` is the
 * errno code of its cause (`ECONNREFUSED`), if any.
 */
export class ApiUnreachableError extends CliError {
  constructor(
    message: string,
    readonly baseUrl: URL,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * otherApiHint is what to add when the default API (`--api` not given) refused the connection
 * while `scaleplane up` left token files for other ports on this machine (`ports`, trusted ones):
 * an API moved with `api.listen` is then the likely one. A config on other ports (as the README
 * shows) gave only `connect ECONNREFUSED 127.0.0.1:9090`. Undefined when there is none to name.
 */
export function otherApiHint(refused: URL, ports: readonly number[]): string | undefined {
  const own = apiPort(refused);
  const others = [...new Set(ports)].filter((port) => port !== own).sort((a, b) => a - b);
  if (others.length === 0) return undefined;
  const at = (port: number) => `--api http://${refused.hostname}:${port}`;
  return others.length === 1
    ? `a Scaleplane of yours left its API token for port ${others[0]} on this machine: try ${at(others[0]!)}`
    : `Scaleplanes of yours left API tokens for ports ${others.join(', ')} on this machine: try ${at(others[0]!)} (or another of them)`;
}

/**
 * retryHint words an answer's Retry-After (delay-seconds) for the error line, e.g. a 409 resize
 * refused while another operation holds the group, a 429 or a standby's 503: said, the user knows
 * when to repeat the command rather than retrying at once. Empty without one (or an HTTP date).
 */
export function retryHint(retryAfter: string | null): string {
  return retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? ` (retry in ${retryAfter.trim()} s)` : '';
}

/** REQUEST_TIMEOUT_MS bounds one API call, answer body included: a hung API fails, it does not hang the CLI. */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * parseApiUrl reads `--api`. Only http: and https: are URLs the CLI can call: `localhost:9090`
 * parses as a URL of scheme `localhost:` and failed later as a bare "Invalid URL" (exit 1), and
 * `127.0.0.1:9090` as "not a URL" with no hint of what was missing.
 */
export function parseApiUrl(api: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(api);
  } catch {
    // Not a URL at all; the hint below may still apply.
  }
  if (
    (url?.protocol === 'http:' || url?.protocol === 'https:') &&
    (url.username !== '' || url.password !== '')
  ) {
    // fetch refuses such a URL, and its error, printed as "cannot reach the control API", quoted
    // the URL with the password in it (to a terminal, a CI log).
    const shown = new URL(url.href);
    shown.username = '';
    shown.password = '';
    throw new CliError(
      `--api ${shown.href}: no user or password in the URL (fetch refuses them); the API token goes in SCALEPLANE_API_KEY`,
      2,
    );
  }
  if ((url?.protocol === 'http:' || url?.protocol === 'https:') && url.search === '' && url.hash === '')
    return url;
  if (url?.protocol === 'http:' || url?.protocol === 'https:')
    // Named by its parameters only: a query can hold a token, and this line is printed.
    throw new CliError(
      `--api ${redactQuery(api)}: give scheme, host, port and path only, no query or fragment`,
      2,
    );
  const hint = /^[\w.-]+:\d+(\/.*)?$|^\[[\d:a-f]+\]:\d+(\/.*)?$/i.test(api)
    ? ` (did you mean http://${api}?)`
    : '';
  throw new CliError(`--api: not an http:// or https:// URL: ${redactQuery(api)}${hint}`, 2);
}

/**
 * describeFailure says in one line why a call got no answer. undici's cause carries the reason
 * (`connect ECONNREFUSED …`); an OpenSSL reason runs over several lines and names no remedy.
 */
export function describeFailure(err: unknown, url?: URL): string {
  const cause = (err as Error).cause ?? err;
  const code = (cause as NodeJS.ErrnoException).code;
  // fetch refuses the ports the Fetch standard blocks (6000, 6666, 10080…), as browsers do, before
  // any connect, saying only "bad port" (undici gives it no code): an API on one is unreachable
  // from the CLI, MCP and the dashboard alike, so the remedy is another api.listen port.
  if (cause instanceof Error && cause.message === 'bad port')
    return `port ${url?.port || 'of --api'} is one the Fetch standard blocks (as browsers do), which Node's fetch refuses to call: give api.listen another port`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG')
    return 'the TLS handshake got no TLS answer: is the API plain HTTP (http://)?';
  // The other way round: a TLS server (api.tls) drops a plain-HTTP request without a byte, which
  // undici reports only as "other side closed".
  if (
    url?.protocol === 'http:' &&
    code === 'UND_ERR_SOCKET' &&
    (cause as { socket?: { bytesRead?: number } }).socket?.bytesRead === 0
  )
    return 'the connection was closed without a byte of answer: is the API https (https://), with api.tls?';
  // An Error's message, not String(error): that put "Error: " before "connect ECONNREFUSED …".
  const text = cause instanceof Error ? cause.message : String(cause);
  const first = text.trim().split('\n')[0];
  return first === undefined || first === '' ? String(code ?? 'unknown error') : first;
}

/**
 * apiUrl joins an API path (`/api/scalability/groups?…`) onto `--api`, keeping its path: behind a
 * proxy at `https://ops.example/scaleplane/`, the prefix was dropped (`new URL('/api/…', base)`
 * resolves from the root) and the call went to the proxy's own `/api/…`.
 */
export function apiUrl(base: URL, path: string): URL {
  const dir = base.href.endsWith('/') ? base.href : `${base.href}/`;
  return new URL(path.replace(/^\/+/, ''), dir);
}

/**
 * unknownOutcome warns, for a POST that got no whole answer, that it may have been applied: `scale
 * web +2` repeated after a timeout added 2 more (a scale-out by N is not idempotent), and the line
 * gave no hint of that.
 */
function unknownOutcome(method: 'GET' | 'POST'): string {
  return method === 'POST' ? '; it may have been applied: check `scaleplane status` before repeating it' : '';
}

/** isTimeout tells AbortSignal.timeout's abort from any other failure. */
function isTimeout(err: unknown): boolean {
  return (err as Error)?.name === 'TimeoutError';
}

/**
 * plainHttpWarning is the warning for a token about to go over plain http:// to a host that is not
 * this machine's loopback (anyone on the path reads it), or undefined. A warning, not an error: a
 * private network or a TLS-terminating sidecar may make it the operator's informed choice.
 */
export function plainHttpWarning(url: URL, tokenSource: string | undefined): string | undefined {
  if (tokenSource === undefined || url.protocol !== 'http:') return undefined;
  if (isLoopback(url.hostname.replace(/^\[(.*)\]$/, '$1'))) return undefined;
  return `warning: --api ${url.origin} is plain http:// to another machine: the API token (${tokenSource}) goes in clear with every call; use https:// (api.tls on the server)`;
}

/** warnedOrigins are the APIs warned about in this process: one warning each, however many clients. */
const warnedOrigins = new Set<string>();

/** writeWarning prints a CLI warning on stderr (stdout may be JSON a script reads). */
const writeWarning = (line: string) => process.stderr.write(`${line}\n`);

/** ApiClient talks to a running Scaleplane's control API. */
export class ApiClient {
  constructor(
    readonly baseUrl: URL,
    readonly token: string | undefined,
    /** Where the token came from (`$SCALEPLANE_API_KEY`, the token file), for the 401 hint. */
    readonly tokenSource?: string,
    /** A token file that is there but was not trusted, and why, for the 401 hint. */
    readonly untrustedTokenFile?: string,
    /** The longest one call may take, answer included. @defaultValue REQUEST_TIMEOUT_MS */
    readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  /** connect builds a client: the token from the environment, else the file `scaleplane up` left for a local API. */
  static async connect(
    api: string,
    timeoutMs = REQUEST_TIMEOUT_MS,
    warn: (line: string) => void = writeWarning,
  ): Promise<ApiClient> {
    const baseUrl = parseApiUrl(api);
    let fromEnv: ReturnType<typeof envToken>;
    try {
      fromEnv = envToken();
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    // Only a token from the environment can go to another machine: the token file is read for a
    // loopback API only.
    const warning = plainHttpWarning(baseUrl, fromEnv?.source);
    if (warning !== undefined && !warnedOrigins.has(baseUrl.origin)) {
      warnedOrigins.add(baseUrl.origin);
      warn(warning);
    }
    if (fromEnv) return new ApiClient(baseUrl, fromEnv.token, fromEnv.source, undefined, timeoutMs);
    if (['127.0.0.1', 'localhost', '[::1]'].includes(baseUrl.hostname)) {
      const port = apiPort(baseUrl);
      const reading = await inspectTokenFile(port);
      if (reading.token)
        return new ApiClient(baseUrl, reading.token, tokenFilePath(port), undefined, timeoutMs);
      if (reading.untrusted)
        return new ApiClient(
          baseUrl,
          undefined,
          undefined,
          `${tokenFilePath(port)}: ${reading.untrusted}`,
          timeoutMs,
        );
    }
    return new ApiClient(baseUrl, undefined, undefined, undefined, timeoutMs);
  }

  /** request sends one call and returns the parsed JSON body, or throws CliError with the API's error. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = apiUrl(this.baseUrl, path);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...(this.token && { authorization: `Bearer ${this.token}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      if (isTimeout(err))
        throw new CliError(
          `the control API at ${this.baseUrl.origin} did not answer ${method} ${url.pathname} within ${this.#timeout()}${unknownOutcome(method)}`,
        );
      throw new ApiUnreachableError(
        `cannot reach the control API at ${this.baseUrl.origin}: ${describeFailure(err, url)}`,
        this.baseUrl,
        (((err as Error).cause ?? err) as NodeJS.ErrnoException).code,
      );
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      // The timeout covers the body too: an answer whose body stalls surfaced as a bare
      // "The operation was aborted due to timeout", naming neither the API nor the call.
      const why = isTimeout(err)
        ? `not finished within ${this.#timeout()}`
        : `cut off: ${describeFailure(err)}`;
      throw new CliError(
        `the control API at ${this.baseUrl.origin} began answering ${method} ${url.pathname} (HTTP ${res.status}) but the answer was ${why}${unknownOutcome(method)}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // Named with the API and a glimpse of the body: a proxy's HTML error page says whose it is.
      const glimpse = text.replace(/\s+/g, ' ').trim().slice(0, 80);
      throw new CliError(
        `${this.baseUrl.origin}: ${method} ${url.pathname} answered HTTP ${res.status} ${res.statusText}`.trimEnd() +
          `, not JSON${glimpse === '' ? ' (empty body)' : `: ${glimpse}`}`,
      );
    }
    if (!res.ok) {
      const raw = (json as { error?: unknown } | null)?.error;
      const error = typeof raw === 'string' ? raw : raw === undefined ? text : JSON.stringify(raw);
      const hint = res.status === 401 ? ` (${this.#tokenHint()})` : '';
      throw new CliError(`${res.status}: ${error}${hint}${retryHint(res.headers.get('retry-after'))}`);
    }
    return json as T;
  }

  /**
   * list fetches `path` and returns its array `key`: an answer without one is not from a Scaleplane
   * (`--api` names the balancer or another service), said in one line rather than "x is not iterable".
   */
  async list<T>(path: string, key: string): Promise<T[]> {
    const json = await this.request<Record<string, unknown>>('GET', path);
    const value = json !== null && typeof json === 'object' ? json[key] : undefined;
    if (!Array.isArray(value)) throw this.#notScaleplane('GET', path, key);
    return value as T[];
  }

  /**
   * object sends one call whose answer must be an object holding every key of `keys`. Without
   * this check an `--api` naming another service that answers JSON (the balancer, passing the call
   * to the app) got `scale` to print "web: undefined → undefined" and exit 0, and `status web` a
   * TypeError.
   */
  async object<T extends object>(
    method: 'GET' | 'POST',
    path: string,
    keys: readonly (keyof T & string)[],
    body?: unknown,
  ): Promise<T> {
    const json = await this.request<Record<string, unknown> | null>(method, path, body);
    const missing = keys.find((key) => json === null || typeof json !== 'object' || !(key in json));
    if (missing !== undefined) throw this.#notScaleplane(method, path, missing);
    return json as T;
  }

  /** notScaleplane is the error for an answer lacking `key`: one line asking whether --api is right. */
  #notScaleplane(method: string, path: string, key: string): CliError {
    return new CliError(
      `${this.baseUrl.origin}: ${method} ${path.split('?')[0]} answered JSON without "${key}": is --api the Scaleplane control API?`,
    );
  }

  /** timeout is the call's bound for people: `10 s`, `250 ms`. */
  #timeout(): string {
    return this.timeoutMs % 1000 === 0 ? `${this.timeoutMs / 1000} s` : `${this.timeoutMs} ms`;
  }

  /** tokenHint says which token a 401 refused, so a stale one is told from a missing one. */
  #tokenHint(): string {
    if (this.tokenSource === undefined) {
      // A token file that is there but was not trusted (after `sudo scaleplane up`, say) is named:
      // "no token sent" alone would leave its owner guessing.
      const skipped = this.untrustedTokenFile === undefined ? '' : ` (not using ${this.untrustedTokenFile})`;
      return `no token sent${skipped}: set SCALEPLANE_API_KEY to the API token`;
    }
    if (this.tokenSource.startsWith('$'))
      return `the token in ${this.tokenSource} was refused: set it to the API token`;
    if (this.tokenSource.endsWith(`($${API_KEY_FILE_ENV})`))
      return `the token in ${this.tokenSource} was refused: put the API token in that file`;
    return `the token in ${this.tokenSource}, left by an earlier scaleplane up, was refused: set SCALEPLANE_API_KEY to the API token`;
  }
}
