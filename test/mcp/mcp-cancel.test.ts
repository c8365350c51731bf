// A call cancelled over streamable HTTP ends on the server: the SDK client cancels (its timeout, its
// AbortSignal) with a `notifications/cancelled` sent as a POST of its own, which a stateless server
// answered with a fresh MCP server that never saw the call, so a simulate ran on to its end.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { MAX_SIMULATIONS } from '../../src/mcp/index.js';
import { READ_TOKEN } from '../helpers/api-harness.js';
import {
  connectMcp,
  type McpOverApi,
  startEndlessSimulate,
  startMcp,
  startMcpOverApi,
} from '../helpers/mcp-client.js';
import { until } from '../helpers/until.js';

const execFileAsync = promisify(execFile);

/** simulators lists this process's simulator children (the MCP server runs in this process). */
async function simulators(): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync('ps', ['-o', 'args=', '--ppid', String(process.pid)], {
      encoding: 'utf8',
    });
    return stdout.split('\n').filter((line) => line.includes('simulate-child'));
  } catch {
    return []; // ps exits 1 when there are no children
  }
}

describe('MCP over HTTP: cancellation', () => {
  let stack: McpOverApi;
  const clients: Client[] = [];
  const warnings: string[] = [];
  before(async () => {
    stack = await startMcpOverApi({
      logger: {
        warn: (fields, msg) => warnings.push(`${msg}: ${String((fields as { err?: unknown }).err)}`),
      },
    });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await stack.close();
  });

  async function connect(url: URL): Promise<Client> {
    const client = await connectMcp(url, READ_TOKEN);
    clients.push(client);
    return client;
  }

  it('a simulate the client cancels ends on the server, and frees its slot for the next', async () => {
    const client = await connect(stack.url);
    // Minutes of CPU: it ends only if cancelled.
    const calls = Array.from({ length: MAX_SIMULATIONS }, () => startEndlessSimulate(client));
    await until(
      async () => (await simulators()).length === MAX_SIMULATIONS,
      60_000,
      'the simulations started',
    );
    for (const { abort } of calls) abort.abort('the agent moved on');
    for (const outcome of await Promise.all(calls.map((c) => c.outcome)))
      assert.ok(!outcome.startsWith('answered'), `cancelled on the client: ${outcome}`);
    await until(async () => (await simulators()).length === 0, 10_000, 'the cancelled simulators ended');
    await until(() => stack.mcp.inFlight === 0, 10_000, 'every POST answered');
    // The next one is not refused as "already running": the cancelled ones gave their slots back.
    const trace = Array.from({ length: 600 }, (_, i) => (i % 2) * 1e6);
    const next = await client.callTool({ name: 'simulate', arguments: { trace } });
    assert.equal(next.isError, undefined, `a simulate after the cancel: ${JSON.stringify(next.content)}`);
    assert.deepEqual(warnings, [], 'nothing failed on the server');
  });
  it('a simulate that outruns simulateTimeoutMs is stopped and says how to make it smaller', async () => {
    const bounded = await startMcp(stack.api.base, { simulateTimeoutMs: 2_000 });
    try {
      const client = await connect(bounded.url);
      // ~10 s of CPU here (every preset, 10000 instances at a 1 s interval), a client that waits.
      const trace = Array.from({ length: 6_000 }, (_, i) => (i % 2) * 1e6);
      const result = await client.callTool(
        {
          name: 'simulate',
          arguments: {
            trace,
            min: 10_000,
            max: 10_000,
            interval: 1,
            peak_instances: 10_000,
            policies: ['default', 'hpa', 'hpa-behavior', 'kpa', 'keda', 'step', 'simple', 'predictive'],
          },
        },
        undefined,
        { timeout: 600_000 },
      );
      assert.equal(
        result.isError,
        true,
        `stopped, not answered: ${JSON.stringify(result.content).slice(0, 300)}`,
      );
      assert.match(
        JSON.stringify(result.content),
        /simulate: not finished within 2 s, and stopped: .*shorten the trace/,
        'says why and what to do',
      );
      await until(async () => (await simulators()).length === 0, 10_000, 'the stopped simulator ended');
    } finally {
      await bounded.mcp.close();
    }
  });
});
