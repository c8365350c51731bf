import { readTokenFile, tokenFromEnv } from '../api/index.js';

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
  ) {}

  /** connect builds a client: the token from the environment, else the file `scaleplane up` left for a local API. */
  static async connect(api: string): Promise<ApiClient> {
    let baseUrl: URL;
    try {
      baseUrl = new URL(api);
    } catch {
      throw new CliError(`--api: not a URL: ${api}`, 2);
    }
    let token = tokenFromEnv();
    if (!token && ['127.0.0.1', 'localhost', '[::1]'].includes(baseUrl.hostname)) {
      token = await readTokenFile(Number(baseUrl.port || 80));
    }
    return new ApiClient(baseUrl, token);
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
      const hint = res.status === 401 ? ' (set SCALEPLANE_API_KEY to the API token)' : '';
      throw new CliError(`${res.status}: ${error}${hint}`);
    }
    return json as T;
  }
}
