// The MCP server's client of the control API, against a local HTTP server: it keeps --api's path and
// names why a call got no answer, as the CLI's client does.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createControlApi, proxyHeaders } from '../../src/mcp/api.js';
import { McpError } from '../../src/mcp/errors.js';
import { holdingApi } from '../helpers/holding-api.js';
import { within } from '../helpers/until.js';

describe('MCP control API client', () => {
  it('keeps the path of --api: behind a proxy at /scaleplane/ the call goes there', async (t) => {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      const ours = req.url === '/scaleplane/api/scalability/groups';
      res.writeHead(ours ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ours ? { groups: [] } : { error: 'not found' }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scaleplane`;
    const answer = await createControlApi(base, 'token').request('GET', '/api/scalability/groups');
    assert.deepEqual(answer, { groups: [] }, 'the answer of the API behind the proxy');
    assert.deepEqual(paths, ['/scaleplane/api/scalability/groups'], 'the path the proxy saw');
  });

  it("a redirect is not followed: mcp --http's admin proxy token never reaches another origin", async (t) => {
    // Where the redirect points: another origin (port), as an SSO page in front of an API would be.
    const elsewhere: Record<string, string | string[] | undefined>[] = [];
    const other = createServer((req, res) => {
      elsewhere.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"events":[]}');
    });
    other.listen(0, '127.0.0.1');
    await once(other, 'listening');
    t.after(() => other.close());
    const target = `http://localhost:${(other.address() as AddressInfo).port}/login`;
    const front = createServer((_req, res) => res.writeHead(307, { location: target }).end());
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    t.after(() => front.close());
    const api = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const admin = 'proxy-admin-token-0123456789';
    await assert.rejects(
      createControlApi(api, 'client-token-0123456789', 5_000, proxyHeaders(admin, '10.1.2.3')).request(
        'GET',
        '/api/scalability/events?limit=0',
      ),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(err.status, 307);
        assert.equal(
          err.message,
          `307: the control API at ${api} redirected GET /api/scalability/events to ${target}, which is not followed: give --api the URL of the control API itself`,
        );
        return true;
      },
    );
    // Before: followed, and the other origin got `scaleplane-proxy-authorization: Bearer <admin>`
    // (fetch drops only Authorization on such a redirect).
    assert.equal(elsewhere.length, 0, `the other origin got no request: ${JSON.stringify(elsewhere)}`);
  });

  it('an API that refuses the connection: named with the cause', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    await assert.rejects(
      createControlApi(`http://127.0.0.1:${port}`, 'token').request('GET', '/api/scalability/groups'),
      (err: unknown) =>
        err instanceof McpError &&
        err.code === 'MCP_API_UNREACHABLE' &&
        err.message ===
          `cannot reach the control API at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });
  it('an API that never answers: named with the call and the bound (it was "TimeoutError: The operation was aborted…")', async (t) => {
    const server = createServer(() => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await assert.rejects(
      createControlApi(api, 'token', 300).request('GET', '/api/scalability/groups'),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(err.code, 'MCP_API_UNREACHABLE');
        assert.equal(
          err.message,
          `the control API at ${api} did not answer GET /api/scalability/groups within 300 ms`,
        );
        return true;
      },
    );
  });

  it('an answer whose body stalls: named with the API and the call (it was a bare "The operation was aborted…")', async (t) => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"groups":');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await assert.rejects(
      createControlApi(api, 'token', 300).request('GET', '/api/scalability/groups'),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(
          err.message,
          `the control API at ${api} began answering GET /api/scalability/groups (HTTP 200) but the answer was not finished within 300 ms`,
        );
        return true;
      },
    );
  });
  it('a scale whose answer never came says it may have been applied: a scale-out is not to be repeated blindly', async (t) => {
    // Takes the POST (as an API that applied it and then stalled on the state store would) and
    // never answers, or answers only the head of it.
    let posts = 0;
    const server = createServer((req, res) => {
      posts += 1;
      req.resume();
      if (req.url?.endsWith('/resize-group')) {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.write('{"group":');
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createControlApi(api, 'token', 300);
    await assert.rejects(
      client.request('POST', '/api/scalability/scale-group', { group: 'web', action: 'scale-out' }),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(
          err.message,
          `the control API at ${api} did not answer POST /api/scalability/scale-group within 300 ms; it may have been applied: read the group (get_group) before repeating it`,
        );
        return true;
      },
    );
    await assert.rejects(
      client.request('POST', '/api/scalability/resize-group', { group: 'web', cpu: 1 }),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.match(
          err.message,
          /HTTP 202\) but the answer was not finished within 300 ms; it may have been applied/,
        );
        return true;
      },
    );
    assert.equal(posts, 2, 'each POST was sent once');
  });
  it('a cancelled call ends its request at once; a cancelled scale says it may have been applied', async (t) => {
    // The API takes each call and never answers: only the cancel can end it before the 15 s bound.
    const api = await holdingApi();
    t.after(() => api.close());
    const client = createControlApi(api.base, 'token');
    const cases = [
      {
        method: 'POST',
        path: '/api/scalability/scale-group',
        body: { group: 'web', action: 'scale-out' },
        // Sent: the API may have scaled. Saying only "cancelled", an agent would send it again.
        outcome: '; it may have been applied: read the group (get_group) before repeating it',
      },
      { method: 'GET', path: '/api/scalability/groups', body: undefined, outcome: '' },
    ] as const;
    for (const c of cases) {
      const abort = new AbortController();
      const held = api.next();
      const call = client.request(c.method, c.path, c.body, abort.signal);
      const request = await within(`${c.method} reaching the API`, 10_000, held);
      abort.abort('the agent moved on');
      await assert.rejects(call, (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(err.code, 'MCP_CALL_CANCELLED');
        assert.equal(
          err.message,
          `the call was cancelled before the control API at ${api.base} answered ${c.method} ${c.path}${c.outcome}`,
        );
        return true;
      });
      await within(`the connection of the cancelled ${c.method} closing`, 5_000, request.closed);
    }
    // Cancelled before it went out: nothing reached the API, and the message says just that.
    const cancelled = AbortSignal.abort('the agent moved on');
    await assert.rejects(
      client.request(
        'POST',
        '/api/scalability/scale-group',
        { group: 'web', action: 'scale-out' },
        cancelled,
      ),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(
          err.message,
          `the call was cancelled before POST /api/scalability/scale-group was sent to the control API at ${api.base}`,
        );
        return true;
      },
    );
    assert.equal(api.received(), cases.length, 'the POST cancelled beforehand was never sent');
  });

  it('a resize cancelled once its answer began says it may have been applied', async (t) => {
    const api = await holdingApi();
    t.after(() => api.close());
    api.beginAnswering('/api/scalability/resize-group');
    const abort = new AbortController();
    // Cancelled as soon as fetch has the head, so while the body is read: nothing on the wire tells
    // a test that moment, so the call's own fetch says it. The request and answer stay real.
    const realFetch = globalThis.fetch;
    t.mock.method(globalThis, 'fetch', async (...args: Parameters<typeof fetch>) => {
      const res = await realFetch(...args);
      abort.abort('the agent moved on');
      return res;
    });
    const held = api.next();
    await assert.rejects(
      createControlApi(api.base, 'token').request(
        'POST',
        '/api/scalability/resize-group',
        { group: 'web', cpu: 1 },
        abort.signal,
      ),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(err.code, 'MCP_CALL_CANCELLED');
        assert.equal(
          err.message,
          `the control API at ${api.base} began answering POST /api/scalability/resize-group (HTTP 202) but the answer was not finished when the call was cancelled; it may have been applied: read the group (get_group) before repeating it`,
        );
        return true;
      },
    );
    const request = await within('the resize reaching the API', 10_000, held);
    await within('the connection of the cancelled resize closing', 5_000, request.closed);
  });

  it('an error answer of JSON null or of nothing is named by its status (null threw a TypeError)', async (t) => {
    const server = createServer((req, res) => {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(req.url?.endsWith('null') ? 'null' : '');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const path of ['/api/scalability/null', '/api/scalability/empty'])
      await assert.rejects(createControlApi(api, 'token').request('GET', path), (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(err.message, '502: HTTP 502', path);
        return true;
      });
  });
});
