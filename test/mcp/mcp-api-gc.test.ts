// The MCP server's calls to the control API keep their bound while garbage collection runs. With
// AbortSignal.any([AbortSignal.timeout(ms), the tool call's signal]), Node 20 collected the timeout
// before it fired (nodejs/node#57736), and a call to an API that never answered waited for good.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createControlApi } from '../../src/mcp/api.js';
import { McpError } from '../../src/mcp/errors.js';
import { listen } from '../helpers/http-server.js';
import { within } from '../helpers/until.js';

// gc() without --expose-gc on the command line (the test runner takes no flags per file).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** silentApi answers each request as `answer` says (never, or a head and part of a body). */
async function silentApi(t: TestContext, answer: (res: ServerResponse) => void): Promise<string> {
  return listen(
    t,
    createServer((_req, res) => answer(res)),
  );
}

/** underGc runs `call` while collecting garbage every few ms; resolves with what it threw. */
async function underGc(call: () => Promise<unknown>): Promise<unknown> {
  const collecting = setInterval(gc, 5);
  try {
    // A bound on a hang, not a timing assertion: without the fix no answer ever comes.
    await within('the call ending at its 300 ms bound under gc', 15_000, call());
  } catch (err) {
    return err;
  } finally {
    clearInterval(collecting);
  }
  return undefined;
}

describe('MCP control API client under garbage collection', () => {
  it('an API that never answers: the call with a tool signal still ends at its bound', async (t) => {
    const api = await silentApi(t, () => {});
    const tool = new AbortController();
    t.after(() => tool.abort());
    const err = await underGc(() =>
      createControlApi(api, 'token', 300).request('GET', '/api/scalability/groups', undefined, tool.signal),
    );
    assert.ok(err instanceof McpError, String(err));
    assert.equal(err.code, 'MCP_API_UNREACHABLE');
    assert.equal(
      err.message,
      `the control API at ${api} did not answer GET /api/scalability/groups within 300 ms`,
    );
  });

  it('an answer whose body stalls: the call with a tool signal still ends at its bound', async (t) => {
    const api = await silentApi(t, (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"groups":');
    });
    const tool = new AbortController();
    t.after(() => tool.abort());
    const err = await underGc(() =>
      createControlApi(api, 'token', 300).request('GET', '/api/scalability/groups', undefined, tool.signal),
    );
    assert.ok(err instanceof McpError, String(err));
    assert.equal(
      err.message,
      `the control API at ${api} began answering GET /api/scalability/groups (HTTP 200) but the answer was not finished within 300 ms`,
    );
  });
});
