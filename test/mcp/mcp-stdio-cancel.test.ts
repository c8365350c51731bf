// `scaleplane mcp` over stdio, driven by the SDK's own client: a call the client cancelled gets no
// answer (as the protocol says), and the server, which ends when stdin closes once every request
// read is answered, waited for that answer: the session never ended, and the process exited 13 (an
// unsettled top-level await) instead of 0.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startEndlessSimulate } from '../helpers/mcp-client.js';
import { runnable } from '../helpers/runnable.js';

const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');

describe('scaleplane mcp over stdio: a cancelled call', () => {
  it('the client closing stdin after a cancel ends the server with exit 0', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      // No API: simulate over stdio calls none.
      args: [...runnable(MAIN), 'mcp', '--api', 'http://127.0.0.1:9'],
      env: { ...process.env, SCALEPLANE_API_KEY: 'unused-token-0123456789' } as Record<string, string>,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'scaleplane-test', version: '1.0.0' });
    await client.connect(transport);
    // The SDK keeps the process private; its exit is what this test is about.
    const child = (transport as unknown as { _process: ChildProcess })._process;
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    // Minutes of CPU: it ends only because it is cancelled.
    const { abort, outcome } = startEndlessSimulate(client);
    // A ping is answered after the simulate was read: the server has it in hand when it is cancelled.
    await client.ping();
    abort.abort('the agent moved on');
    const ended = await outcome;
    assert.ok(!ended.startsWith('answered'), `the call was cancelled on the client: ${ended}`);
    // Ends stdin, waits 2 s for the exit, then SIGTERM.
    await client.close();
    const [code, signal] = await exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, 'exited by itself, with 0');
  });
});
