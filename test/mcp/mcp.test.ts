// Acceptance: an MCP client from the SDK lists Scaleplane's tools and scales a group through
// scale_group, over streamable HTTP and over stdio (`scaleplane mcp`); without the token it is refused.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  MAX_SIMULATIONS,
  MAX_TRACE_SECONDS,
  MCP_PATH,
  McpHttpServer,
  TOOL_NAMES,
} from '../../src/mcp/index.js';
import { type ApiHarness, READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { sendRaw } from '../helpers/raw-http.js';
import { runnable } from '../helpers/runnable.js';
import { until } from '../helpers/until.js';

const execFileAsync = promisify(execFile);
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');

async function connect(url: URL, token?: string): Promise<Client> {
  const client = new Client({ name: 'scaleplane-test', version: '1.0.0' });
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

describe('MCP server', () => {
  let api: ApiHarness;
  let mcp: McpHttpServer;
  let url: URL;
  const clients: Client[] = [];
  before(async () => {
    api = await startApi();
    mcp = new McpHttpServer({ listen: { host: '127.0.0.1', port: 0 }, apiUrl: api.base });
    const { port } = await mcp.listen();
    url = new URL(`http://127.0.0.1:${port}${MCP_PATH}`);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await mcp.close();
    await api.close();
  });

  it('streamable HTTP: lists the tools and scales a group through scale_group', async () => {
    const client = await connect(url, TOKEN);
    clients.push(client);
    // The handshake names package.json's version, not a copy of it.
    const pkg = JSON.parse(await readFile(resolve(import.meta.dirname, '../../package.json'), 'utf8'));
    assert.deepEqual(client.getServerVersion(), { name: 'scaleplane', version: pkg.version });
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [...TOOL_NAMES].sort());
    const scale = tools.find((t) => t.name === 'scale_group')!;
    assert.deepEqual(scale.inputSchema.required?.sort(), ['action', 'group']);
    assert.equal(scale.annotations?.destructiveHint, true);

    const before = api.provider.desired();
    const result = await client.callTool({
      name: 'scale_group',
      arguments: { group: 'web', action: 'scale-out', instances: 2 },
    });
    assert.equal(result.isError, undefined);
    assert.deepEqual(result.structuredContent, { group: 'web', previous: before, desired: before + 2 });
    assert.equal(api.provider.desired(), before + 2);
    assert.deepEqual(api.journal.last('web')?.reasons, ['ManualScale']);

    const group = await client.callTool({ name: 'get_group', arguments: { group: 'web' } });
    assert.equal((group.structuredContent as { desired: number }).desired, before + 2);
    const events = await client.callTool({ name: 'get_events', arguments: { group: 'web', limit: 1 } });
    assert.match(JSON.stringify(events.content), /ManualScale/);
  });

  it('keeps the API limits: out of range is refused and nothing changes; bad input never reaches the API', async () => {
    const client = await connect(url, TOKEN);
    clients.push(client);
    const desired = api.provider.desired();
    const refused = await client.callTool({
      name: 'scale_group',
      arguments: { group: 'web', action: 'set', instances: 99 },
    });
    assert.equal(refused.isError, true);
    assert.match(JSON.stringify(refused.content), /409/);
    const invalid = await client.callTool({
      name: 'scale_group',
      arguments: { group: 'web', action: 'grow' },
    });
    assert.equal(invalid.isError, true);
    assert.equal(api.provider.desired(), desired);
  });

  it('refuses a misspelt argument by name instead of dropping it (a scale-out by the default 1)', async () => {
    const client = await connect(url, TOKEN);
    clients.push(client);
    const { tools } = await client.listTools();
    for (const name of ['scale_group', 'resize_group', 'get_group', 'get_events', 'simulate'])
      assert.equal(tools.find((t) => t.name === name)!.inputSchema.additionalProperties, false, name);
    const desired = api.provider.desired();
    const seq = api.journal.last('web')?.seq;
    const typo = await client.callTool({
      name: 'scale_group',
      arguments: { group: 'web', action: 'scale-out', instanse: 3 },
    });
    assert.equal(typo.isError, true);
    assert.match(JSON.stringify(typo.content), /instanse/);
    assert.equal(api.provider.desired(), desired);
    assert.equal(api.journal.last('web')?.seq, seq);
    const events = await client.callTool({ name: 'get_events', arguments: { grup: 'web' } });
    assert.equal(events.isError, true);
    assert.match(JSON.stringify(events.content), /grup/);
  });

  it('a read-only token cannot scale or resize through MCP; an admin call is journaled with its token name', async () => {
    const reader = await connect(url, READ_TOKEN);
    clients.push(reader);
    const desired = api.provider.desired();
    for (const [name, args] of [
      ['scale_group', { group: 'web', action: 'scale-out' }],
      ['resize_group', { group: 'web', cpu: 1 }],
    ] as const) {
      const result = await reader.callTool({ name, arguments: args });
      assert.equal(result.isError, true, name);
      assert.match(JSON.stringify(result.content), /403.*dashboards.*read/, name);
    }
    assert.equal(api.provider.desired(), desired);
    const listed = await reader.callTool({ name: 'list_groups', arguments: {} });
    assert.equal(listed.isError, undefined);

    const admin = await connect(url, TOKEN);
    clients.push(admin);
    await admin.callTool({ name: 'scale_group', arguments: { group: 'web', action: 'set', instances: 2 } });
    const entry = api.journal.last('web')!;
    assert.deepEqual(entry.reasons, ['ManualScale']);
    assert.equal((entry.inputs as { by: string }).by, 'api-key');
    assert.match(entry.message, /by api-key through the control API/);
  });

  it('simulate: a bad trace value is named by its index, one line, for a week of them and for 1e308', async () => {
    const client = await connect(url, TOKEN);
    clients.push(client);
    const negatives = await client.callTool({
      name: 'simulate',
      arguments: { trace: new Array<number>(MAX_TRACE_SECONDS).fill(-1) },
    });
    assert.equal(negatives.isError, true);
    const text = (negatives.content as { text: string }[])[0]!.text;
    assert.match(text, /0\.\.1000000000, got -1 \(and 604799 more bad values\) at trace\[0\]/);
    assert.ok(text.length < 500, `one line, got ${text.length} characters`);
    const huge = await client.callTool({
      name: 'simulate',
      arguments: { trace: [...new Array<number>(100).fill(10), 1e308] },
    });
    assert.equal(huge.isError, true);
    assert.match(JSON.stringify(huge.content), /got 1e\+308 at trace\[100\]/);
  });

  it('refuses a client without the token, and a wrong token at the API', async () => {
    await assert.rejects(connect(url), /401|bearer|Unauthorized/i);
    const raw = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(raw.status, 401);
    // A wrong token is checked with the API before any message is read, so refused at connect.
    const desired = api.provider.desired();
    await assert.rejects(
      connect(url, 'not-the-token'),
      /control API refused the token: 401: missing or invalid bearer token/,
    );
    assert.equal(api.provider.desired(), desired);
  });

  it('a request target that is no URL is a 400, not a failure', async () => {
    const warnings: string[] = [];
    const server = new McpHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      apiUrl: api.base,
      logger: { warn: (_fields, msg) => warnings.push(msg ?? '') },
    });
    const { port } = await server.listen();
    try {
      for (const target of ['//[', 'http://[::1/mcp']) {
        const answer = await sendRaw(
          port,
          `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
        );
        assert.equal(answer.status, 400, `${target}: ${answer.text}`);
        assert.match(answer.text, /request target: expected a path such as \/mcp/);
      }
      assert.deepEqual(warnings, []);
    } finally {
      await server.close();
    }
  });

  it('refuses a "__proto__" argument by name, as the API does, instead of dropping it', async () => {
    const desired = api.provider.desired();
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"scale_group","arguments":{"group":"web","action":"set","instances":${desired + 1},"__proto__":{"x":1}}}}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body,
    });
    const text = await res.text();
    assert.equal(res.status, 400, text);
    assert.match(text, /params\.arguments\.__proto__: unknown field/);
    assert.equal(api.provider.desired(), desired, 'nothing changed');
    // The API itself, for comparison.
    const direct = await api.call('/api/scalability/scale-group', {
      method: 'POST',
      body: `{"group":"web","action":"set","instances":${desired + 1},"__proto__":{"x":1}}`,
    });
    assert.deepEqual([direct.status, direct.body], [400, { error: '__proto__: unknown field' }]);
  });

  it('simulate over HTTP needs a token the API accepts (a read token will do)', async () => {
    const trace = new Array<number>(600).fill(100);
    await assert.rejects(connect(url, 'not-the-token'), /401/);
    const reader = await connect(url, READ_TOKEN);
    clients.push(reader);
    const result = await reader.callTool({ name: 'simulate', arguments: { trace } });
    assert.equal(result.isError, undefined, JSON.stringify(result.content));
  });

  it('cuts a client that trickles its request (slowloris) after requestTimeoutMs', async () => {
    const slow = new McpHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      apiUrl: api.base,
      requestTimeoutMs: 1_500,
    });
    const { port } = await slow.listen();
    try {
      const socket = tcpConnect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        `POST ${MCP_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"',
      );
      const started = Date.now();
      let answer = '';
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString();
      });
      const closed = once(socket, 'close');
      const deadline = new Promise((_, reject) =>
        setTimeout(() => reject(new Error('still open after 6 s')), 6_000).unref(),
      );
      await Promise.race([closed, deadline]).finally(() => socket.destroy());
      const heldMs = Date.now() - started;
      assert.ok(heldMs < 4_000, `held ${heldMs} ms`);
      assert.match(answer, /^HTTP\/1\.1 408/);
    } finally {
      await slow.close();
    }
  });

  it('a long simulate runs apart: other calls are answered meanwhile; its client gone, it ends', async () => {
    /**
     * simulators lists this process's simulator children (the MCP server runs in this process). Not
     * execFileSync: polled every few ms, it kept this process's event loop, which serves the MCP
     * server and the API too, blocked nearly all the time; on a loaded machine the simulate call's
     * token check then sat unread past the API's 10 s header timeout and failed ECONNRESET (2 runs
     * of 3 beside two CPU hogs), ending the "long" simulation before list_groups was asked.
     */
    const simulators = async () => {
      try {
        const { stdout } = await execFileAsync('ps', ['-o', 'args=', '--ppid', String(process.pid)], {
          encoding: 'utf8',
        });
        return stdout.split('\n').filter((line) => line.includes('simulate-child'));
      } catch {
        return []; // ps exits 1 when there are no children
      }
    };
    // A week at one value per second for up to 10000 instances: ~20 s of CPU measured here, in
    // the server's own thread before. Ended below as soon as the other call is answered.
    const trace = Array.from({ length: MAX_TRACE_SECONDS }, (_, i) => (i % 2) * 1e6);
    const simulating = await connect(url, READ_TOKEN);
    let simulateDone = false;
    // How the first simulation to end ended: answered, or the error (a loaded run ended one early).
    let firstEnded = '';
    const long = () =>
      simulating
        .callTool(
          { name: 'simulate', arguments: { trace, max: 10_000, peak_instances: 10_000 } },
          undefined,
          { timeout: 600_000 },
        )
        .then(
          (result) =>
            result.isError ? `answered with an error: ${JSON.stringify(result.content)}` : 'answered',
          (err: Error) => err.message,
        )
        .then((outcome) => {
          if (!simulateDone) firstEnded = outcome;
          simulateDone = true;
          return outcome;
        });
    // As many as may run at once (one per core but one).
    const simulations = Array.from({ length: MAX_SIMULATIONS }, long);
    // Until the simulators run (or, run in the server's own thread, one finished).
    await until(
      async () => simulateDone || (await simulators()).length === MAX_SIMULATIONS,
      300_000,
      'simulations started',
    );
    const other = await connect(url, READ_TOKEN);
    clients.push(other);
    const groups = await other.callTool({ name: 'list_groups', arguments: {} });
    assert.equal(groups.isError, undefined);
    assert.equal(
      simulateDone,
      false,
      `list_groups was answered only after a simulation ended (${firstEnded.slice(0, 300)})`,
    );
    // One more is refused, saying why, rather than one more process.
    const refused = await other.callTool({ name: 'simulate', arguments: { trace: trace.slice(0, 600) } });
    assert.equal(refused.isError, true);
    assert.match(JSON.stringify(refused.content), /simulation\(s\) already running, the most at once/);
    // Stateless HTTP: a cancel notification reaches a server of its own, so a client cancels by
    // hanging up, which aborts its calls on the server.
    await simulating.close();
    for (const outcome of await Promise.all(simulations)) assert.ok(!outcome.startsWith('answered'), outcome);
    await until(
      async () => (await simulators()).length === 0,
      10_000,
      'the cancelled simulator process ended',
    );
  });

  it('simulate runs a policy over an inline trace without touching any group', async () => {
    const client = await connect(url, TOKEN);
    clients.push(client);
    const trace = Array.from({ length: 3600 }, (_, s) => 200 + 150 * Math.sin(s / 600));
    const result = await client.callTool({
      name: 'simulate',
      arguments: { trace, policies: ['default', 'hpa'], max: 10 },
    });
    assert.equal(result.isError, undefined, JSON.stringify(result.content));
    const rows = (result.structuredContent as { rows: { policy: string }[] }).rows;
    assert.deepEqual(
      rows.map((r) => r.policy),
      ['default', 'hpa', 'oracle'],
    );
  });

  it('simulate with absolute replays the rates as they are: a steady 250 req/s needs 3 instances of 100', async () => {
    const client = await connect(url, TOKEN);
    clients.push(client);
    const trace = new Array<number>(3600).fill(250);
    const call = (absolute: boolean) =>
      client.callTool({ name: 'simulate', arguments: { trace, policies: ['hpa'], absolute } });
    const hours = async (absolute: boolean) => {
      const result = await call(absolute);
      assert.equal(result.isError, undefined, JSON.stringify(result.content));
      const rows = (result.structuredContent as { rows: { policy: string; instance_hours: number }[] }).rows;
      return rows.find((r) => r.policy === 'oracle')!.instance_hours;
    };
    // ceil(250 / (0.9 × 100)) = 3 for an hour; scaled to the default peak of 20 × 100, 23.
    assert.equal(await hours(true), 3);
    assert.equal(await hours(false), 23);
  });

  it('stdio: `scaleplane mcp` lists the tools and scales with the token from the environment', async () => {
    const client = new Client({ name: 'scaleplane-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [...runnable(MAIN), 'mcp', '--api', api.base],
        env: { ...process.env, SCALEPLANE_API_KEY: TOKEN } as Record<string, string>,
        stderr: 'pipe',
      }),
    );
    const { tools } = await client.listTools();
    assert.equal(tools.length, TOOL_NAMES.length);
    const desired = api.provider.desired();
    const result = await client.callTool({
      name: 'scale_group',
      arguments: { group: 'web', action: 'set', instances: 1 },
    });
    assert.deepEqual(result.structuredContent, { group: 'web', previous: desired, desired: 1 });
  });
});
