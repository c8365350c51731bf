// `--api` naming another service that answers JSON, as the balancer does (it passes every call on to
// the demo app, whose answer to anything is `{"hello": …}`): scale_group reported
// `undefined: undefined → undefined` as a success, so an agent believed a group was scaled.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { MCP_PATH, McpHttpServer } from '../../src/mcp/index.js';

describe('MCP tools against an --api that is no Scaleplane', () => {
  const seen: string[] = [];
  // As examples/demo/server.js answers every path.
  const app = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ hello: 'from the demo app', pid: process.pid, port: 3000 }));
  });
  let mcp: McpHttpServer;
  let client: Client;
  before(async () => {
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    mcp = new McpHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      apiUrl: `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
    });
    const { port } = await mcp.listen();
    client = new Client({ name: 'scaleplane-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}${MCP_PATH}`), {
        requestInit: { headers: { authorization: 'Bearer some-token-0123456789' } },
      }),
    );
  });
  after(async () => {
    await client.close();
    await mcp.close();
    app.closeAllConnections();
    app.close();
  });

  const cases = [
    ['scale_group', { group: 'web', action: 'scale-out' }, 'POST /api/scalability/scale-group', '"group"'],
    ['resize_group', { group: 'web', cpu: 1 }, 'POST /api/scalability/resize-group', '"group"'],
    ['list_groups', {}, 'GET /api/scalability/groups', 'an array "groups"'],
    ['get_group', { group: 'web' }, 'GET /api/scalability/groups/web', '"name"'],
    ['get_events', {}, 'GET /api/scalability/events', 'an array "events"'],
  ] as const;
  for (const [name, args, call, missing] of cases)
    it(`${name}: an error saying so, not a success`, async () => {
      const result = await client.callTool({ name, arguments: args });
      assert.equal(result.isError, true, `${name} answered as a success: ${JSON.stringify(result.content)}`);
      assert.deepEqual(
        result.content,
        [
          {
            type: 'text',
            text: `${call} answered JSON without ${missing}: is --api the Scaleplane control API?`,
          },
        ],
        'the call and what its answer lacked',
      );
      assert.ok(
        seen.some((line) => line.startsWith(call)),
        `the call reached the other service: ${seen.join(', ')}`,
      );
    });
});
