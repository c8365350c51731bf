// `scaleplane mcp --http` calls the control API from 127.0.0.1 for all its clients. The API's
// failed-authentication limit is per address: before, one MCP client sending wrong tokens locked out
// every other MCP client and the operator's own CLI (127.0.0.1 as well). With its own admin token
// the MCP server names the client it calls for, and the API counts that client apart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FORWARDED_FOR_HEADER, PROXY_AUTHORIZATION_HEADER } from '../../src/api/index.js';
import { checkProxyToken, MCP_PATH, McpHttpServer } from '../../src/mcp/index.js';
import { type ApiHarness, READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { sendRaw } from '../helpers/raw-http.js';

/** An MCP request with `token`, sent from `from` (another loopback address is another client). */
const mcpRequest = (port: number, token: string, from: string) =>
  sendRaw(
    port,
    `POST ${MCP_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
      'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nConnection: close\r\n' +
      'Content-Length: 58\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}      ',
    { keepOpen: true, timeoutMs: 10_000, localAddress: from },
  );

describe('failed authentications through MCP over HTTP', () => {
  let api: ApiHarness;
  before(async () => {
    // The default limit: 10 failed authentications per minute per client.
    api = await startApi();
  });
  after(() => api.close());

  it("one MCP client's wrong tokens lock out that client only, not other MCP clients nor the local CLI", async () => {
    const mcp = new McpHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      apiUrl: api.base,
      proxyToken: TOKEN,
    });
    const { port } = await mcp.listen();
    try {
      const statuses: (number | undefined)[] = [];
      for (let i = 0; i < 11; i++) statuses.push((await mcpRequest(port, 'wrong-token', '127.0.0.3')).status);
      assert.deepEqual(statuses, [...Array(10).fill(401), 429], 'the bad client is limited');
      // The operator's CLI, straight to the API from 127.0.0.1: before, 429 with the admin token.
      assert.equal((await api.call('/api/scalability/groups')).status, 200);
      // Another MCP client, and one on the address the bad one was counted under before.
      for (const from of ['127.0.0.2', '127.0.0.1']) {
        const answer = await mcpRequest(port, READ_TOKEN, from);
        assert.equal(answer.status, 200, `${from}: ${answer.text}`);
      }
      // A valid token the gate has not seen yet is asked about: the bad client is still blocked.
      assert.equal((await mcpRequest(port, TOKEN, '127.0.0.3')).status, 429, 'still limited');
    } finally {
      await mcp.close();
    }
  });

  it("a DNS-rebinding page's guesses through MCP are refused before the API: local clients are not locked out", async (t) => {
    const own = await startApi();
    t.after(() => own.close());
    // No proxy token: the MCP server calls the API as 127.0.0.1, the address of the local CLI too.
    const mcp = new McpHttpServer({ listen: { host: '127.0.0.1', port: 0 }, apiUrl: own.base });
    const { port } = await mcp.listen();
    t.after(() => mcp.close());
    const page = (token: string) =>
      sendRaw(
        port,
        `POST ${MCP_PATH} HTTP/1.1\r\nHost: evil.example:${port}\r\nOrigin: http://evil.example:${port}\r\n` +
          `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
          'Accept: application/json, text/event-stream\r\nConnection: close\r\n' +
          'Content-Length: 58\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}      ',
        { keepOpen: true, timeoutMs: 10_000 },
      );
    const statuses: (number | undefined)[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await page(`guess-${i}-0123456789`)).status);
    // Before: 10 × 401, then 429, and the CLI's next call with the admin token got 429 as well.
    assert.deepEqual(statuses, Array(11).fill(403), 'refused at the MCP server');
    assert.equal((await page(TOKEN)).status, 403, 'with a good token as well: no web page is served');
    assert.equal((await own.call('/api/scalability/groups')).status, 200, 'the local CLI');
    const client = await mcpRequest(port, READ_TOKEN, '127.0.0.1');
    assert.equal(client.status, 200, `a local MCP client: ${client.text}`);
  });

  it('the API takes a named client only from an admin proxy token: else 401, counted against the sender', async () => {
    const forged = await api.call('/api/scalability/groups', {
      headers: { [FORWARDED_FOR_HEADER]: '10.0.0.1' },
    });
    assert.equal(forged.status, 401);
    assert.match(forged.body.error, /scaleplane-proxy-authorization: missing or invalid bearer token/);
    const readProxy = await api.call('/api/scalability/groups', {
      headers: { [FORWARDED_FOR_HEADER]: '10.0.0.1', [PROXY_AUTHORIZATION_HEADER]: `Bearer ${READ_TOKEN}` },
    });
    assert.equal(readProxy.status, 401);
    assert.match(readProxy.body.error, /token "dashboards" has role read; a proxy needs admin/);
    const notAnAddress = await api.call('/api/scalability/groups', {
      headers: { [FORWARDED_FOR_HEADER]: 'everyone', [PROXY_AUTHORIZATION_HEADER]: `Bearer ${TOKEN}` },
    });
    assert.equal(notAnAddress.status, 400);
    assert.match(notAnAddress.body.error, /scaleplane-forwarded-for: expected the client's IP address/);
    assert.deepEqual(await checkProxyToken(api.base, TOKEN), { use: true });
    const refused = await checkProxyToken(api.base, READ_TOKEN);
    assert.equal(refused.use, false);
    assert.match(refused.warning ?? '', /refused this server's own token as a proxy's \(401: .*needs admin/);
  });
});
