// The MCP server is long-lived and reuses idle connections to the control API, which closes them
// after 5 s idle. A request sent while that close is on its way meets a reset (a loaded run's MCP
// test: `cannot reach the control API …: read ECONNRESET`). A raw server here answers the first
// request of each connection and resets the connection on its second, the race made certain.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { createControlApi } from '../../src/mcp/api.js';
import { McpError } from '../../src/mcp/errors.js';

/** resettingServer answers one request per connection, then resets it when another arrives. */
async function resettingServer(t: { after: (fn: () => unknown) => void }) {
  const arrivals: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let served = 0;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        const end = buffered.indexOf('\r\n\r\n') + 4;
        const head = buffered.slice(0, end);
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + length) return;
        buffered = buffered.slice(end + length);
        arrivals.push(head.split(' ', 2).join(' '));
        if (served++ > 0) {
          socket.resetAndDestroy();
          return;
        }
        socket.write(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nkeep-alive: timeout=60\r\n\r\n{}',
        );
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
}

describe('MCP control API client on a reused connection the API resets', () => {
  it('sends a GET again, on a new connection', async (t) => {
    const { url, arrivals } = await resettingServer(t);
    const api = createControlApi(url, 'token');
    assert.deepEqual(await api.request('GET', '/api/scalability/groups'), {}, 'first answer');
    // The connection goes back to fetch's pool once the answer is read, a turn of the loop later.
    await turn();
    assert.deepEqual(await api.request('GET', '/api/scalability/groups'), {}, 'the GET after the reset');
    assert.deepEqual(arrivals, [
      'GET /api/scalability/groups',
      'GET /api/scalability/groups',
      'GET /api/scalability/groups',
    ]);
  });

  it('never sends a POST twice: the reset is the answer', async (t) => {
    const { url, arrivals } = await resettingServer(t);
    const api = createControlApi(url, 'token');
    await api.request('GET', '/api/scalability/groups');
    await turn();
    await assert.rejects(
      api.request('POST', '/api/scalability/scale-group', { group: 'web', action: 'set', instances: 2 }),
      (err: unknown) => {
        assert.ok(err instanceof McpError, String(err));
        assert.match(err.message, /cannot reach the control API/);
        return true;
      },
    );
    assert.deepEqual(arrivals, ['GET /api/scalability/groups', 'POST /api/scalability/scale-group']);
  });
});
