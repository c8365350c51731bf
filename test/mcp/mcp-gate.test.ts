// `scaleplane mcp --http` in front of the control API: the token is checked with the API before a
// body is read (NGINX auth_request), and requests in flight are capped. Real HTTP, real control API.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type ControlApi,
  foreignPage,
  MAX_MCP_BODY_BYTES,
  MCP_PATH,
  McpError,
  McpHttpServer,
  TOKEN_CHECK_PATH,
  TokenGate,
} from '../../src/mcp/index.js';
import { type ApiHarness, READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { freePort } from '../helpers/ports.js';
import { sendRaw } from '../helpers/raw-http.js';
import { until } from '../helpers/until.js';

const head = (token: string, contentLength: number) =>
  `POST ${MCP_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
  `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${contentLength}\r\n\r\n`;

async function listTools(port: number, token: string): Promise<number> {
  const client = new Client({ name: 'scaleplane-test', version: '1.0.0' });
  const headers = { authorization: `Bearer ${token}` };
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}${MCP_PATH}`), {
      requestInit: { headers },
    }),
  );
  try {
    return (await client.listTools()).tools.length;
  } finally {
    await client.close();
  }
}

describe('MCP over HTTP: token gate and in-flight cap', () => {
  let api: ApiHarness;
  before(async () => {
    // A failed-authentication limit no test here reaches: the MCP server calls from one address.
    api = await startApi({ server: { authFailuresPerMinute: 1_000 } });
  });
  after(() => api.close());

  it('an invalid token with an 8 MiB body is answered 401 with the API reason before the body is sent', async () => {
    const mcp = new McpHttpServer({ listen: { host: '127.0.0.1', port: 0 }, apiUrl: api.base });
    const { port } = await mcp.listen();
    try {
      // Headers announce the largest body taken, and only its first 64 KiB are sent: the answer
      // must come without the rest (before the fix the server waited for all of it, then parsed it).
      const start = Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":"${'x'.repeat(65_536)}`,
      );
      const answer = await sendRaw(
        port,
        Buffer.concat([Buffer.from(head('not-the-token', MAX_MCP_BODY_BYTES)), start]),
        {
          keepOpen: true,
          timeoutMs: 10_000,
        },
      );
      assert.equal(answer.status, 401, answer.text || 'no answer before the body was sent');
      assert.match(answer.text, /control API refused the token: 401: missing or invalid bearer token/);
      assert.match(answer.text, /www-authenticate: Bearer/i);
      assert.equal(answer.closed, true, 'the server closes instead of reading the rest');
      // The same token through an SDK client: refused at connect, saying why.
      await assert.rejects(listTools(port, 'not-the-token'), /401|missing or invalid bearer token/);
    } finally {
      await mcp.close();
    }
  });

  it('a valid token still works (admin and read), and the API unreachable is a 502 saying so', async () => {
    const mcp = new McpHttpServer({ listen: { host: '127.0.0.1', port: 0 }, apiUrl: api.base });
    const { port } = await mcp.listen();
    try {
      assert.ok((await listTools(port, TOKEN)) > 0, '(await listTools(port, TOKEN)) > 0');
      assert.ok((await listTools(port, READ_TOKEN)) > 0, '(await listTools(port, READ_TOKEN)) > 0');
    } finally {
      await mcp.close();
    }
    const nowhere = new McpHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      apiUrl: `http://127.0.0.1:${await freePort()}`,
    });
    const { port: nowherePort } = await nowhere.listen();
    try {
      // Kept open: a client's half-close would abort the request while the server asks the API.
      const answer = await sendRaw(nowherePort, `${head(TOKEN, 2)}{}`, { keepOpen: true, timeoutMs: 10_000 });
      assert.equal(answer.status, 502, answer.text);
      assert.match(answer.text, /cannot check the token: the control API is unreachable/);
    } finally {
      await nowhere.close();
    }
  });

  it('over maxInFlight a request is answered 503 with Retry-After; once one ends, served again', async () => {
    const mcp = new McpHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      apiUrl: api.base,
      maxInFlight: 2,
    });
    const { port } = await mcp.listen();
    const held: Socket[] = [];
    try {
      // Two requests whose bodies never finish hold both places.
      for (let i = 0; i < 2; i++) {
        const socket = tcpConnect(port, '127.0.0.1');
        held.push(socket);
        socket.on('error', () => {});
        await once(socket, 'connect');
        socket.write(`${head(TOKEN, 1_000)}{"jsonrpc"`);
      }
      await until(() => mcp.inFlight === 2, 10_000, '2 requests in flight');
      const busy = await sendRaw(port, `${head(TOKEN, 2)}{}`, { keepOpen: true, timeoutMs: 10_000 });
      assert.equal(busy.status, 503, busy.text);
      assert.match(busy.text, /retry-after: 1\r\n/i);
      assert.match(busy.text, /2 requests in flight, the most at once/);
      assert.equal(mcp.inFlight, 2, 'the refused request took no place');
      held.pop()!.destroy();
      await until(() => mcp.inFlight === 1, 10_000, 'a place freed');
      assert.ok((await listTools(port, TOKEN)) > 0, '(await listTools(port, TOKEN)) > 0');
    } finally {
      for (const socket of held) socket.destroy();
      await mcp.close();
    }
  });
});

describe('TokenGate', () => {
  /** counting is an API that accepts `good` and refuses any other token, counting its calls. */
  const counting = (good: string) => {
    const calls: string[] = [];
    const api = (token: string): ControlApi => ({
      async request<T>(_method: string, path: string): Promise<T> {
        calls.push(`${token} ${path}`);
        if (token !== good)
          throw new McpError('MCP_API_ERROR', '401: missing or invalid bearer token', { status: 401 });
        return { events: [] } as T;
      },
    });
    return { calls, api };
  };

  it('asks the API once per token within the TTL, again after it; refusals are asked each time', async () => {
    let now = 1_000;
    const { calls, api } = counting('good');
    const gate = new TokenGate({ apiUrl: 'http://127.0.0.1:1', acceptedTtlMs: 5_000, now: () => now, api });
    assert.deepEqual(await gate.check('good'), { ok: true });
    now += 4_999;
    assert.deepEqual(await gate.check('good'), { ok: true });
    assert.deepEqual(calls, [`good ${TOKEN_CHECK_PATH}`]);
    now += 1;
    await gate.check('good');
    assert.equal(calls.length, 2, 'asked again once the TTL passed');
    for (let i = 0; i < 2; i++) {
      const verdict = await gate.check('bad');
      assert.equal(verdict.ok, false);
      assert.deepEqual(verdict.ok ? undefined : [verdict.status, verdict.reason], [401, 'Rejected']);
    }
    assert.equal(calls.length, 4, 'a refusal is never remembered');
  });

  it('concurrent checks of one token share one API call', async () => {
    const { calls, api } = counting('good');
    const gate = new TokenGate({ apiUrl: 'http://127.0.0.1:1', api });
    const verdicts = await Promise.all(Array.from({ length: 5 }, () => gate.check('good')));
    assert.deepEqual(verdicts, new Array(5).fill({ ok: true }));
    assert.equal(calls.length, 1);
  });

  it('maps the API answers: 403 → 401, 429 → 429, 500 → 502 ApiError, unreachable → 502 ApiUnreachable', async () => {
    const cases: [McpError, number, string][] = [
      [new McpError('MCP_API_ERROR', '403: no', { status: 403 }), 401, 'Rejected'],
      [new McpError('MCP_API_ERROR', '429: slow down', { status: 429 }), 429, 'RateLimited'],
      [new McpError('MCP_API_ERROR', '500: boom', { status: 500 }), 502, 'ApiError'],
      [
        new McpError('MCP_API_UNREACHABLE', 'cannot reach the control API at http://x'),
        502,
        'ApiUnreachable',
      ],
    ];
    for (const [err, status, reason] of cases) {
      const gate = new TokenGate({
        apiUrl: 'http://127.0.0.1:1',
        api: () => ({
          request: () => Promise.reject(err),
        }),
      });
      const verdict = await gate.check('t');
      assert.deepEqual(
        verdict.ok ? undefined : [verdict.status, verdict.reason],
        [status, reason],
        err.message,
      );
    }
  });
});

describe('foreignPage: which callers MCP over HTTP refuses as a web page', () => {
  const cases: [origin: string | undefined, host: string | undefined, loopback: boolean, refused: boolean][] =
    [
      [undefined, '127.0.0.1:9091', true, false],
      [undefined, 'localhost:9091', true, false],
      ['http://localhost:6274', '127.0.0.1:9091', true, false],
      ['http://[::1]:6274', '[::1]:9091', true, false],
      ['http://evil.example:9091', 'evil.example:9091', true, true],
      [undefined, 'evil.example:9091', true, true],
      ['null', '127.0.0.1:9091', true, true],
      ['https://agents.example', 'mcp.internal:9091', false, true],
      [undefined, 'mcp.internal:9091', false, false],
    ];
  for (const [origin, host, loopback, refused] of cases)
    it(`Origin ${origin ?? '-'}, Host ${host}, ${loopback ? 'loopback' : 'network'} listener → ${refused ? 'refused' : 'served'}`, () => {
      assert.equal(foreignPage(origin, host, loopback) !== undefined, refused);
    });
});
