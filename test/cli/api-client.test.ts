import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { ApiClient, CliError, parseApiUrl } from '../../src/cli/client.js';
import { mcpHttpWarnings } from '../../src/mcp/cli.js';
import { ROOT, runCli } from '../helpers/cli-process.js';
import { closedPort } from '../helpers/ports.js';
import { runnable } from '../helpers/runnable.js';
import { makeCertificate } from '../helpers/tls.js';

/** serve answers with `handler` on a port of the kernel's choosing, closed after the test. */
async function serve(t: { after: (fn: () => unknown) => void }, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** failure runs GET /api/scalability/groups through a client with a short bound (300 ms unless `timeoutMs`) and returns its CliError. */
async function failure(api: string, timeoutMs = 300): Promise<CliError> {
  const client = new ApiClient(
    new URL(api),
    'token-0123456789abcdef',
    '$SCALEPLANE_API_KEY',
    undefined,
    timeoutMs,
  );
  const error = await client.request('GET', '/api/scalability/groups').then(
    () => assert.fail('the call succeeded'),
    (err: unknown) => err,
  );
  assert.ok(error instanceof CliError, String(error));
  return error;
}

/**
 * BLOCKED_PORTS are some of the Fetch standard's blocked ports (fetch refuses them, as browsers do),
 * as a user might give api.listen: X11's, IRC's, Amanda's.
 */
const BLOCKED_PORTS = [6000, 6666, 6667, 6668, 6669, 10080];

/** listenOnBlockedPort holds a listening socket on the first of BLOCKED_PORTS that is free. */
async function listenOnBlockedPort(t: { after: (fn: () => unknown) => void }): Promise<number> {
  for (const port of BLOCKED_PORTS) {
    const server = createServer(() => {});
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    t.after(() => new Promise((resolve) => server.close(resolve)));
    return port;
  }
  return assert.fail(`none of ports ${BLOCKED_PORTS.join(', ')} is free`);
}

describe('ApiClient: every failure is one line naming the API', () => {
  it('an API on a port fetch blocks: says so and what to do (it was "Error: bad port")', async (t) => {
    const port = await listenOnBlockedPort(t);
    const { message } = await failure(`http://127.0.0.1:${port}`);
    assert.equal(
      message,
      `cannot reach the control API at http://127.0.0.1:${port}: port ${port} is one the Fetch standard blocks (as browsers do), which Node's fetch refuses to call: give api.listen another port`,
    );
  });

  it('an API that never answers: named, with the bound, not "cannot reach"', async (t) => {
    const api = await serve(t, () => {});
    const { message, exitCode } = await failure(api);
    assert.equal(exitCode, 1);
    assert.equal(
      message,
      `the control API at ${api} did not answer GET /api/scalability/groups within 300 ms`,
    );
  });

  it('a POST that got no answer may have been applied: said so, as a scale-out repeated is applied twice', async (t) => {
    let received = 0;
    const api = await serve(t, (req) => {
      if (req.method === 'POST') received++;
    });
    const client = new ApiClient(
      new URL(api),
      'token-0123456789abcdef',
      '$SCALEPLANE_API_KEY',
      undefined,
      300,
    );
    const error = await client
      .request('POST', '/api/scalability/scale-group', { group: 'web', action: 'scale-out', instances: 2 })
      .then(
        () => assert.fail('the call succeeded'),
        (err: unknown) => err,
      );
    assert.equal(received, 1, 'the API got the POST');
    assert.ok(error instanceof CliError, String(error));
    assert.equal(
      error.message,
      `the control API at ${api} did not answer POST /api/scalability/scale-group within 300 ms; it may have been applied: check \`scaleplane status\` before repeating it`,
    );
  });

  it('an answer whose body stalls: named (it was a bare "The operation was aborted due to timeout")', async (t) => {
    const api = await serve(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"groups":');
    });
    const { message } = await failure(api);
    assert.equal(
      message,
      `the control API at ${api} began answering GET /api/scalability/groups (HTTP 200) but the answer was not finished within 300 ms`,
    );
  });

  it('a 5xx that is not JSON (a proxy in front): the API, the status and a glimpse of the body', async (t) => {
    // It said only "GET /api/scalability/groups: HTTP 502, not JSON": not whose answer it was.
    const api = await serve(t, (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>\n  <body>Bad Gateway</body>\n</html>\n');
    });
    assert.equal(
      (await failure(api)).message,
      `${api}: GET /api/scalability/groups answered HTTP 502 Bad Gateway, not JSON: <html> <body>Bad Gateway</body> </html>`,
    );
    const empty = await serve(t, (_req, res) => {
      res.writeHead(503);
      res.end();
    });
    assert.equal(
      (await failure(empty)).message,
      `${empty}: GET /api/scalability/groups answered HTTP 503 Service Unavailable, not JSON (empty body)`,
    );
  });

  it('an error that is not a string is shown as JSON, not "[object Object]"', async (t) => {
    const api = await serve(t, (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"field":"group"}}');
    });
    assert.equal((await failure(api)).message, '400: {"field":"group"}');
  });

  it('a refusal with Retry-After (a resize refused 409 while another operation holds the group) says when to repeat it', async (t) => {
    const busy = 'group "web": resize refused: web: draining web-1 for 90 s more';
    const api = await serve(t, (_req, res) => {
      res.writeHead(409, { 'content-type': 'application/json', 'retry-after': '90' });
      res.end(JSON.stringify({ error: busy, code: 'SCALEPLANE_BUSY', operation: 'drain of web-1' }));
    });
    assert.equal((await failure(api, 10_000)).message, `409: ${busy} (retry in 90 s)`);
    // Without one (when an operation ends is not known) nothing is made up.
    const plain = await serve(t, (_req, res) => {
      res.writeHead(409, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: busy, code: 'SCALEPLANE_BUSY' }));
    });
    assert.equal((await failure(plain, 10_000)).message, `409: ${busy}`);
  });

  it('a refused connection: "connect ECONNREFUSED", as the README quotes it, not "Error: connect …"', async () => {
    const port = await closedPort();
    const api = `http://127.0.0.1:${port}`;
    const { message, exitCode } = await failure(api);
    assert.equal(exitCode, 1, `exit code ${exitCode} for an unreachable API`);
    assert.equal(message, `cannot reach the control API at ${api}: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('https:// to a plain-HTTP API: one line saying so, not OpenSSL’s multi-line reason', async (t) => {
    const api = await serve(t, (_req, res) => res.end('{}'));
    const https = api.replace('http:', 'https:');
    // Time enough for the handshake's failure on a loaded machine: at 300 ms a fresh run beside
    // other work (load 20) got the timeout's message instead.
    const { message } = await failure(https, 10_000);
    assert.equal(
      message,
      `cannot reach the control API at ${https}: the TLS handshake got no TLS answer: is the API plain HTTP (http://)?`,
    );
  });
});

describe('ApiClient: http:// to an https API', () => {
  it('says to try https://, where it said only "other side closed"', async (t) => {
    const certificate = await makeCertificate();
    t.after(() => certificate.remove());
    const server = createHttpsServer(
      { cert: certificate.cert, key: await readFile(certificate.keyPath) },
      (_req, res) => res.end('{}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { message } = await failure(api);
    assert.equal(
      message,
      `cannot reach the control API at ${api}: the connection was closed without a byte of answer: is the API https (https://), with api.tls?`,
    );
  });
});

describe('ApiClient: --api with a path (behind a proxy)', () => {
  it('keeps the path: the calls went to the proxy’s root', async (t) => {
    const seen: string[] = [];
    const api = await serve(t, (req, res) => {
      seen.push(req.url!);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"groups":[],"events":[]}');
    });
    for (const base of [`${api}/scaleplane`, `${api}/scaleplane/`]) {
      const client = new ApiClient(parseApiUrl(base), 'token-0123456789abcdef');
      await client.list('/api/scalability/groups', 'groups');
      await client.list('/api/scalability/events?limit=5', 'events');
    }
    assert.deepEqual(seen, [
      '/scaleplane/api/scalability/groups',
      '/scaleplane/api/scalability/events?limit=5',
      '/scaleplane/api/scalability/groups',
      '/scaleplane/api/scalability/events?limit=5',
    ]);
  });
});

describe('parseApiUrl', () => {
  const cases: [string, string | RegExp][] = [
    ['http://127.0.0.1:9090', 'http://127.0.0.1:9090/'],
    ['https://ops.example:8443/', 'https://ops.example:8443/'],
    // `localhost:9090` parsed as scheme "localhost:" and failed later as a bare "Invalid URL", exit 1.
    [
      'localhost:9090',
      /^--api: not an http:\/\/ or https:\/\/ URL: localhost:9090 \(did you mean http:\/\/localhost:9090\?\)$/,
    ],
    ['127.0.0.1:9090', /\(did you mean http:\/\/127\.0\.0\.1:9090\?\)$/],
    ['ftp://host/', /^--api: not an http:\/\/ or https:\/\/ URL: ftp:\/\/host\/$/],
    ['not a url', /^--api: not an http:\/\/ or https:\/\/ URL: not a url$/],
    // A query or fragment would be lost joining the API's paths on.
    [
      'http://127.0.0.1:9090/?tenant=a',
      /^--api http:\/\/127\.0\.0\.1:9090\/\?tenant=\*\*\*: give scheme, host, port and path only/,
    ],
    // Named by its parameters only: a token kept in the query was printed (`?access_token=…`).
    [
      'http://127.0.0.1:9090/?access_token=tok-s3cret',
      /^--api http:\/\/127\.0\.0\.1:9090\/\?access_token=\*\*\*: give scheme, host, port and path only, no query or fragment$/,
    ],
    // fetch refused it later with "cannot reach the control API at …: TypeError: Request cannot be
    // constructed from a URL that includes credentials: https://ops:s3cret@…", password and all, exit 1.
    [
      'https://ops:s3cret@ops.example/scaleplane',
      /^--api https:\/\/ops\.example\/scaleplane: no user or password in the URL \(fetch refuses them\); the API token goes in SCALEPLANE_API_KEY$/,
    ],
  ];
  for (const [raw, want] of cases) {
    it(raw, () => {
      if (typeof want === 'string') return assert.equal(parseApiUrl(raw).href, want);
      assert.throws(
        () => parseApiUrl(raw),
        (err: unknown) => err instanceof CliError && err.exitCode === 2 && want.test(err.message),
      );
    });
  }
});

describe('a token over plain http:// to another machine', () => {
  // Before, the CLI sent `Authorization: Bearer <token>` over http:// to any --api without a
  // word. Now one warning on stderr, not an error; no request is made here (connect sends none).
  /** connected runs ApiClient.connect with a token in the environment and returns what it warned. */
  async function connected(t: { after: (fn: () => unknown) => void }, apis: string[]): Promise<string[]> {
    const saved = process.env.SCALEPLANE_API_KEY;
    process.env.SCALEPLANE_API_KEY = 'token-0123456789abcdef';
    t.after(() => {
      if (saved === undefined) delete process.env.SCALEPLANE_API_KEY;
      else process.env.SCALEPLANE_API_KEY = saved;
    });
    const warned: string[] = [];
    for (const api of apis) await ApiClient.connect(api, 1000, (line) => warned.push(line));
    return warned;
  }

  it('warned once, naming --api and the token, suggesting https', async (t) => {
    const warned = await connected(t, ['http://10.0.0.5:9090', 'http://10.0.0.5:9090/']);
    assert.deepEqual(
      warned,
      [
        'warning: --api http://10.0.0.5:9090 is plain http:// to another machine: the API token ($SCALEPLANE_API_KEY) goes in clear with every call; use https:// (api.tls on the server)',
      ],
      'one warning for two clients of the same API',
    );
  });

  it('scaleplane mcp warns the same, once (its stdin closed at once: no call is made)', async () => {
    const run = await runCli(['mcp', '--api', 'http://10.0.0.5:9090'], {
      SCALEPLANE_API_KEY: 'token-0123456789abcdef',
      SCALEPLANE_API_KEY_FILE: '',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stderr
        .split('\n')
        .filter((line) => line.startsWith('warning: --api http://10.0.0.5:9090 is plain http://')).length,
      1,
      `one warning: ${run.stderr}`,
    );
    assert.doesNotMatch(run.stderr, /token-0123456789abcdef/, 'the token itself is never printed');
  });

  it('not for https://, a loopback API or no token', async (t) => {
    const apis = [
      'https://10.0.0.6:9090',
      'http://127.0.0.1:9',
      'http://127.1.2.3:9',
      'http://localhost:9',
      'http://[::1]:9',
    ];
    assert.deepEqual(await connected(t, apis), [], 'no warning');
    delete process.env.SCALEPLANE_API_KEY;
    const none: string[] = [];
    await ApiClient.connect('http://10.0.0.7:9090', 1000, (line) => none.push(line));
    assert.deepEqual(none, [], 'no token, nothing to send in clear');
  });
});

describe("scaleplane mcp --http: MCP clients' tokens over plain http://", () => {
  /**
   * startedMcpHttp runs `scaleplane mcp --http LISTEN --api API` until it says where it listens,
   * stops it (SIGTERM) and returns what it wrote on stderr. No MCP client calls: nothing leaves the
   * machine (with no token of its own it checks none with the API).
   */
  async function startedMcpHttp(listen: string, api: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const child = spawn(
      process.execPath,
      [...runnable('src/cli/main.ts'), 'mcp', '--http', listen, '--api', api],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          SCALEPLANE_API_KEY: '',
          SERVICE_API_KEY: '',
          SCALEPLANE_API_KEY_FILE: '',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    const exited = once(child, 'close');
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('MCP (streamable HTTP) on')) resolve();
      });
      child.once('close', (code) =>
        reject(new Error(`mcp --http exited ${code} before listening: ${stderr}`)),
      );
    });
    child.kill('SIGTERM');
    await exited;
    return stderr;
  }

  const plainApi = (stderr: string) =>
    stderr
      .split('\n')
      .filter((line) => line.startsWith('warning: --api http://10.0.0.5:9090 is plain http://'));

  // Before, with no token of its own, it passed each client's Bearer token to the API over http://
  // to another machine without a word (the CLI warns for its own token since 0a59580).
  it("warns once that each client's token goes in clear to an http:// API on another machine", async () => {
    const stderr = await startedMcpHttp('127.0.0.1:0', 'http://10.0.0.5:9090');
    assert.deepEqual(
      plainApi(stderr),
      [
        "warning: --api http://10.0.0.5:9090 is plain http:// to another machine: each MCP client's API token goes in clear with every tool call; use https:// (api.tls on the server)",
      ],
      `one warning: ${stderr}`,
    );
  });

  it('one warning naming its own token too (no process: its token check would call the API)', () => {
    assert.deepEqual(
      mcpHttpWarnings(
        new URL('http://10.0.0.5:9090'),
        { host: '127.0.0.1', port: 9091 },
        '$SCALEPLANE_API_KEY',
      ),
      [
        "warning: --api http://10.0.0.5:9090 is plain http:// to another machine: each MCP client's API token, and this server's own ($SCALEPLANE_API_KEY), goes in clear with every tool call; use https:// (api.tls on the server)",
      ],
    );
    assert.deepEqual(
      mcpHttpWarnings(new URL('https://10.0.0.5:9090'), { host: '::1', port: 9091 }, '$SCALEPLANE_API_KEY'),
      [],
      'https:// to the API and a loopback listener: nothing in clear',
    );
  });

  it('warns once when it listens beyond loopback: clients send it their tokens in clear', async () => {
    const stderr = await startedMcpHttp('0.0.0.0:0', 'http://127.0.0.1:9');
    assert.deepEqual(
      stderr.split('\n').filter((line) => line.includes('--http 0.0.0.0')),
      [
        'warning: --http 0.0.0.0:0 is plain http:// beyond loopback: MCP clients send it their API tokens in clear; keep it on loopback, or put a TLS proxy in front',
      ],
      `one warning: ${stderr}`,
    );
    assert.deepEqual(plainApi(stderr), [], 'a loopback API: no --api warning');
  });

  it('none on loopback to a loopback or https:// API', async () => {
    for (const api of ['http://127.0.0.1:9', 'https://10.0.0.6:9090']) {
      const stderr = await startedMcpHttp('127.0.0.1:0', api);
      assert.doesNotMatch(stderr, /plain http/, `no plain-http warning for ${api}: ${stderr}`);
    }
  });
});
