// The simulate tool's arguments are bounded where the simulator's arithmetic holds: a capacity of
// 1e300 scaled the demand past the largest double, and the answer read `NaN% of requests over
// capacity` (`violation_pct: null`) instead of refusing the argument.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { MAX_TRACE_RATE } from '../../src/mcp/index.js';
import { READ_TOKEN } from '../helpers/api-harness.js';
import { connectMcp, type McpOverApi, startMcpOverApi } from '../helpers/mcp-client.js';

describe('MCP simulate: argument bounds', () => {
  let stack: McpOverApi;
  let client: Client;
  before(async () => {
    stack = await startMcpOverApi();
    client = await connectMcp(stack.url, READ_TOKEN);
  });
  after(async () => {
    await client.close();
    await stack.close();
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
