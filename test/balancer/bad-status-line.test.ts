// A backend status line node:http's client parser accepts but its server will not write (a reason
// phrase with a control byte): the client gets a 502, and the balancer lives on to serve the next
// request. Over raw TCP on both sides; no HTTP library would send such a status line.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { sendRaw } from '../helpers/raw-http.js';
import { cacheConfig } from './cache/helpers.js';
import { config, ready, startBalancer } from './helpers.js';

/** rawBackend answers each request (its body, if any, read) with the status line `status`. */
async function rawBackend(t: TestContext, status: string): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = '';
      socket.write(`${status}\r\nContent-Length: 5\r\n\r\nhello`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const REQUESTS = {
  GET: 'GET /bad HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  POST: 'POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody',
};

test('a backend reason phrase with a control byte gets the client a 502, GET and POST, and the balancer serves on', async (t) => {
  const bad = await rawBackend(t, 'HTTP/1.1 200 O\u000bK');
  const good = await rawBackend(t, 'HTTP/1.1 200 OK');
  const { balancer, port } = await startBalancer(t, config());
  balancer.setGroup('web', ready(['bad', bad]));
  for (const [method, request] of Object.entries(REQUESTS)) {
    const answer = await sendRaw(port, request, { keepOpen: true });
    assert.equal(
      answer.status,
      502,
      `${method}: a status line the balancer cannot relay is a 502, got ${answer.text}`,
    );
  }
  balancer.setGroup('web', ready(['good', good]));
  const after = await sendRaw(port, REQUESTS.GET, { keepOpen: true });
  assert.equal(
    after.status,
    200,
    `the balancer must still serve after the bad status lines, got ${after.text}`,
  );
});

test('the same status line on a cache fill: a 502, and the balancer serves on', async (t) => {
  const bad = await rawBackend(t, 'HTTP/1.1 200 O\u000bK');
  const { balancer, port } = await startBalancer(t, config({ cache: cacheConfig() }));
  balancer.setGroup('web', ready(['bad', bad]));
  const answer = await sendRaw(port, REQUESTS.GET, { keepOpen: true });
  assert.equal(answer.status, 502, `a status line the cache cannot relay is a 502, got ${answer.text}`);
  const again = await sendRaw(port, REQUESTS.POST, { keepOpen: true });
  assert.equal(again.status, 502, `the balancer must still answer, got ${again.text}`);
});
