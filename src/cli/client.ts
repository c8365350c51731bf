// The modules, not the api barrel: that one loads the server and the balancer (~0.6 s per CLI run).
import { API_KEY_ENV } from '../api/auth.js';
import { inspectTokenFile, tokenFilePath } from '../api/token-file.js';

/** CliError is a failure the CLI reports as one line and a non-zero exit. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** ApiClient talks to a running Scaleplane's control API. */
export class ApiClient {
  constructor(
    readonly baseUrl: URL,
    readonly token: string | undefined,
    /** Where the token came from (`$SCALEPLANE_API_KEY`, the token file), for the 401 hint. */
    readonly tokenSource?: string,
    /** A token file that is there but was not trusted, and why, for the 401 hint. */
    readonly untrustedTokenFile?: string,
  ) {}

  /** connect builds a client: the token from the environment, else the file `scaleplane up` left for a local API. */
  static async connect(api: string): Promise<ApiClient> {
    let baseUrl: URL;
    try {
      baseUrl = new URL(api);
    } catch {
      throw new CliError(`--api: not a URL: ${api}`, 2);
    }
    for (const name of API_KEY_ENV) {
      const token = process.env[name]?.trim();
      if (token) return new ApiClient(baseUrl, token, `$${name}`);
    }
    if (['127.0.0.1', 'localhost', '[::1]'].includes(baseUrl.hostname)) {
      const port = Number(baseUrl.port || 80);
      const reading = await inspectTokenFile(port);
      if (reading.token) return new ApiClient(baseUrl, reading.token, tokenFilePath(port));
      if (reading.untrusted)
        return new ApiClient(baseUrl, undefined, undefined, `${tokenFilePath(port)}: ${reading.untrusted}`);
    }
    return new ApiClient(baseUrl, undefined);
  }

  /** request sends one call and returns the parsed JSON body, or throws CliError with the API's error. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.baseUrl);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...(this.token && { authorization: `Bearer ${this.token}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach the control API at ${this.baseUrl.origin}: ${(err as Error).cause ?? err}`,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(`${method} ${url.pathname}: HTTP ${res.status}, not JSON`);
    }
    if (!res.ok) {
      const error = (json as { error?: string }).error ?? text;
      const hint = res.status === 401 ? ` (${this.#tokenHint()})` : '';
      throw new CliError(`${res.status}: ${error}${hint}`);
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
    if (!Array.isArray(value)) {
      throw new CliError(
        `${this.baseUrl.origin}: GET ${path.split('?')[0]} answered JSON without "${key}": is --api the Scaleplane control API?`,
      );
    }
    return value as T[];
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
    return `the token in ${this.tokenSource}, left by an earlier scaleplane up, was refused: set SCALEPLANE_API_KEY to the API token`;
  }
}
