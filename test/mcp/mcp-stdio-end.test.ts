// `printf '<requests>' | scaleplane mcp`: the client writes its requests and closes the server's
// stdin at once. The server ended the session on that end of stdin, which aborts the handlers
// still running, so a tools/call waiting on the control API was never answered. It now ends once
// every request read before the end has its answer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { startApi, TOKEN } from '../helpers/api-harness.js';
import { startStdioSession } from '../helpers/mcp-client.js';
import { until, within } from '../helpers/until.js';

describe('scaleplane mcp over stdio: stdin closed after the last request', () => {
  it('answers a tools/call still waiting on the API, then ends', async (t) => {
    const api = await startApi();
    t.after(() => api.close());
    // A gate in front of the real API: it holds each call until the test lets it through.
    const held: { req: IncomingMessage; res: ServerResponse }[] = [];
    const gate = createServer((req, res) => held.push({ req, res }));
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      gate.closeAllConnections();
      return new Promise((resolve) => gate.close(resolve));
    });
    const release = async ({ req, res }: (typeof held)[number]): Promise<void> => {
      const answer = await fetch(new URL(req.url ?? '/', api.base), {
        method: req.method ?? 'GET',
        headers: { authorization: req.headers.authorization ?? '' },
      });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(await answer.text());
    };

    const { stdin, write, answered, out, ended } = await startStdioSession(
      `http://127.0.0.1:${(gate.address() as AddressInfo).port}`,
      TOKEN,
    );
    write({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_groups', arguments: {} } });
    await until(() => held.length > 0, 10_000, 'list_groups calling the API');

    stdin.end();
    // Registered after serveStdio's own listener, so this runs once the server has seen the end.
    await once(stdin, 'end');
    for (const call of held.splice(0)) await release(call);
    await within('serveStdio resolving after the answer', 10_000, ended);

    const answer = answered(2);
    assert.ok(
      answer !== undefined,
      `no answer to the tools/call sent before stdin closed; stdout was: ${out()}`,
    );
    assert.equal(answer.error, undefined, `the tools/call failed: ${JSON.stringify(answer.error)}`);
    assert.match(
      JSON.stringify(answer.result),
      /web/,
      `list_groups did not list web: ${JSON.stringify(answer.result)}`,
    );
  });
});
