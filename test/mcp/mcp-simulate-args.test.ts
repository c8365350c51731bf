// The simulate tool's arguments are bounded where the simulator's arithmetic holds: a capacity of
// 1e300 scaled the demand past the largest double, and the answer read `NaN% of requests over
// capacity` (`violation_pct: null`) instead of refusing the argument.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { MAX_TRACE_RATE, MCP_PATH, McpHttpServer } from '../../src/mcp/index.js';
import { type ApiHarness, READ_TOKEN, startApi } from '../helpers/api-harness.js';

describe('MCP simulate: argument bounds', () => {
  let api: ApiHarness;
  let mcp: McpHttpServer;
  let client: Client;
  before(async () => {
    api = await startApi();
    mcp = new McpHttpServer({ listen: { host: '127.0.0.1', port: 0 }, apiUrl: api.base });
    const { port } = await mcp.listen();
    client = new Client({ name: 'scaleplane-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}${MCP_PATH}`), {
        requestInit: { headers: { authorization: `Bearer ${READ_TOKEN}` } },
      }),
    );
  });
  after(async () => {
    await client.close();
    await mcp.close();
    await api.close();
  });

  const trace = Array.from({ length: 600 }, (_, i) => 100 * (i % 3));

  it('a capacity past MAX_TRACE_RATE is refused by name, not answered with NaN', async () => {
    const { tools } = await client.listTools();
    const schema = tools.find((t) => t.name === 'simulate')!.inputSchema.properties!.capacity as {
      maximum?: number;
    };
    assert.equal(schema.maximum, MAX_TRACE_RATE, 'the advertised schema says the bound');
    const result = await client.callTool({ name: 'simulate', arguments: { trace, capacity: 1e300 } });
    assert.equal(
      result.isError,
      true,
      `refused, not answered: ${JSON.stringify(result.content).slice(0, 300)}`,
    );
    assert.match(JSON.stringify(result.content), /capacity/, 'names the argument');
  });

  it('a capacity at the bound is answered with numbers', async () => {
    const result = await client.callTool({
      name: 'simulate',
      arguments: { trace, capacity: MAX_TRACE_RATE, peak_instances: 10_000 },
    });
    assert.equal(result.isError, undefined, JSON.stringify(result.content));
    const rows = (result.structuredContent as { rows: Record<string, unknown>[] }).rows;
    for (const row of rows)
      for (const [key, value] of Object.entries(row))
        if (key !== 'policy') assert.ok(Number.isFinite(value), `${row.policy}.${key} is ${value}`);
  });
});
