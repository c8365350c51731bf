// A tool call cancelled while it waits on the control API ends that API request at once. Only
// simulate stopped on a cancel: list_groups, get_group, scale_group, resize_group and get_events
// kept their HTTP request to the API open, answered to no one, until its 15 s timeout. The stand-in
// API takes each call and never answers, so only the cancel can close the request's connection.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { McpHttpServer } from '../../src/mcp/index.js';
import { TOKEN } from '../helpers/api-harness.js';
import { type HoldingApi, holdingApi } from '../helpers/holding-api.js';
import { callCancellable, connectMcp, startMcp, startStdioSession } from '../helpers/mcp-client.js';
import { until, within } from '../helpers/until.js';

/**
 * CLOSED_WITHIN_MS bounds the wait for a cancelled request's connection to close: a third of the
 * API client's 15 s timeout, which closed it without the cancel. It bounds a hang on a slow machine;
 * the close comes in milliseconds.
 */
const CLOSED_WITHIN_MS = 5_000;

const calls: { name: string; args: Record<string, unknown>; request: string }[] = [
  { name: 'list_groups', args: {}, request: 'GET /api/scalability/groups' },
  { name: 'get_group', args: { group: 'web' }, request: 'GET /api/scalability/groups/web' },
  {
    name: 'scale_group',
    args: { group: 'web', action: 'scale-out', instances: 1 },
    request: 'POST /api/scalability/scale-group',
  },
  { name: 'resize_group', args: { group: 'web', cpu: 1 }, request: 'POST /api/scalability/resize-group' },
  { name: 'get_events', args: { group: 'web' }, request: 'GET /api/scalability/events?limit=50&group=web' },
  // Over HTTP, simulate first checks the caller's token with the API.
  {
    name: 'simulate',
    args: { trace: new Array<number>(60).fill(100) },
    request: 'GET /api/scalability/events?limit=1',
  },
];

describe('MCP over HTTP: a cancelled call ends its control API request', () => {
  let api: HoldingApi;
  let mcp: McpHttpServer;
  let client: Client;
  const warnings: string[] = [];
  before(async () => {
    api = await holdingApi();
    let url: URL;
    ({ mcp, url } = await startMcp(api.base, {
      logger: { warn: (fields, msg) => warnings.push(`${msg}: ${JSON.stringify(fields)}`) },
    }));
    client = await connectMcp(url, TOKEN);
  });
  after(async () => {
    await client.close();
    await mcp.close();
    await api.close();
  });

  for (const c of calls)
    it(`${c.name}: the API sees its request's connection close at once, and no answer comes`, async () => {
      const held = api.next();
      const { abort, outcome } = callCancellable(client, c.name, c.args);
      const request = await within(`${c.name} reaching the API`, 10_000, held);
      assert.equal(`${request.method} ${request.url}`, c.request, 'the request held');
      abort.abort('the agent moved on');
      await within(
        `${c.name}: the connection of the cancelled ${c.request} closing`,
        CLOSED_WITHIN_MS,
        request.closed,
      );
      const ended = await outcome;
      assert.ok(!ended.startsWith('answered'), `cancelled, never answered: ${ended}`);
      await until(() => mcp.inFlight === 0, 10_000, "the cancelled call's POST answered 202");
    });

  it('after the cancels, a call is answered as before and nothing failed on the server', async () => {
    api.answer('/api/scalability/groups', { groups: [] });
    const result = await client.callTool({ name: 'list_groups', arguments: {} });
    assert.deepEqual(result.content, [{ type: 'text', text: '(no groups)\n{\n  "groups": []\n}' }]);
    assert.deepEqual(warnings, []);
  });
});

describe('MCP over stdio: a cancelled call ends its control API request', () => {
  it('a scale_group cancelled while the API holds its POST: the connection closes, no answer is sent', async (t) => {
    const api = await holdingApi();
    t.after(() => api.close());
    const { stdin, write, answered, out, ended } = await startStdioSession(api.base, TOKEN);
    const held = api.next();
    write({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'scale_group', arguments: { group: 'web', action: 'scale-out', instances: 1 } },
    });
    const request = await within('scale_group reaching the API', 10_000, held);
    assert.equal(`${request.method} ${request.url}`, 'POST /api/scalability/scale-group');
    write({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 2, reason: 'the agent moved on' },
    });
    await within("the cancelled POST's connection closing", CLOSED_WITHIN_MS, request.closed);

    // The session goes on after the cancel; the protocol owes the cancelled call no answer.
    write({ jsonrpc: '2.0', id: 3, method: 'ping' });
    await until(() => answered(3) !== undefined, 10_000, 'the answer to the ping');
    stdin.end();
    await within('serveStdio ending once stdin closed', 10_000, ended);
    assert.equal(answered(2), undefined, `no answer to the cancelled call; stdout: ${out()}`);
  });
});
