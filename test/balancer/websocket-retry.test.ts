// A WebSocket handshake whose backend cannot be reached (refused connection: an instance that died
// before health checks or outlier detection took it out) reached no backend, so it is tried on
// another one, as a GET is (and as NGINX's proxy_next_upstream does); once a connection is made it
// is never retried.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { counter, ready, refusedAddress, startBackend, startBalancer } from './helpers.js';

const HANDSHAKE =
  'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** handshake opens a raw connection, sends a WebSocket handshake and resolves with the first bytes of the answer. */
async function handshake(port: number): Promise<{ socket: net.Socket; head: string }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(HANDSHAKE);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return { socket, head: chunk.toString('latin1') };
}

test('a WebSocket handshake to a backend that refuses the connection is tried on another one', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end());
  let upgrades = 0;
  backend.server.on('upgrade', (_req, socket: net.Socket) => {
    upgrades++;
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket); // echo
  });
  const dead = await refusedAddress();
  const { balancer, metrics, port } = await startBalancer(t);
  // Round-robin picks `dead` first.
  balancer.setGroup('web', ready(['dead', dead], ['live', backend.address]));
  const opened: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const { socket, head } = await handshake(port);
    opened.push(socket);
    // Before: the handshake picked for `dead` got a 502 although no backend had seen it.
    assert.match(head, /^HTTP\/1\.1 101 /, `handshake ${i}: ${head}`);
    socket.write('ping');
    const [echo] = (await once(socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'ping', `handshake ${i}: the tunnel works`);
  }
  assert.equal(upgrades, 2);
  assert.equal(await counter(metrics.retries, { group: 'web' }), 1, 'one retry, for the one picked for dead');
  assert.equal(await counter(metrics.upstreamErrors, { group: 'web', kind: 'connect' }), 1);
  const stats = balancer.stats('web');
  assert.deepEqual(
    stats.backends.map((b) => [b.id, b.inFlight]),
    [
      ['dead', 0],
      ['live', 2],
    ],
    'the retried handshake counts on live only',
  );
  for (const socket of opened) socket.destroy();
});

test('a WebSocket handshake with no backend left to try gets 502 naming the connect failure', async (t) => {
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['d1', await refusedAddress()], ['d2', await refusedAddress()]));
  const { socket, head } = await handshake(port);
  await once(socket, 'close');
  assert.match(head, /^HTTP\/1\.1 502 /, head);
  assert.match(head, /\{"error":"upstream connect failed","group":"web"\}$/, head);
  assert.deepEqual(
    balancer.stats('web').backends.map((b) => b.inFlight),
    [0, 0],
  );
  assert.equal(balancer.stats('web').inFlight, 0);
});
