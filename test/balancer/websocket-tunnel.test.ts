// A WebSocket tunnel ends when either side closes its end, as NGINX's does, but only once what that
// side sent has been written out to the other: the last message and the close frame before a FIN.
// A reader slower than the sender leaves those bytes queued in the balancer's socket; here a cork
// holds them there (as a full receive window does) so that the end always finds them queued.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { deferred, ready, startBackend, startBalancer } from './helpers.js';

const HANDSHAKE =
  'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';

/** socketsOf collects the sockets this process opens (`net.client.socket`) or accepts (`net.server.socket`) from now on. */
function socketsOf(t: TestContext, channel: 'net.client.socket' | 'net.server.socket'): net.Socket[] {
  const sockets: net.Socket[] = [];
  const onSocket = (message: unknown): void => {
    sockets.push((message as { socket: net.Socket }).socket);
  };
  diagnostics.subscribe(channel, onSocket);
  t.after(() => diagnostics.unsubscribe(channel, onSocket));
  return sockets;
}

/** opened connects to the balancer and resolves once the 101 has come through. */
async function opened(t: TestContext, port: number): Promise<net.Socket> {
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write(HANDSHAKE);
  let head = '';
  while (!head.includes('\r\n\r\n')) head += ((await once(client, 'data')) as [Buffer])[0].toString('latin1');
  assert.equal(head, SWITCH);
  return client;
}

test('a backend that sends its last message and closes: the client gets the message before the close', {
  timeout: 10_000,
}, async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end());
  const closeNow = deferred();
  backend.server.on('upgrade', (_req, socket: net.Socket) => {
    socket.write(SWITCH);
    closeNow.promise.then(() => socket.end('bye'));
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const accepted = socketsOf(t, 'net.server.socket');
  const client = await opened(t, port);
  const toClient = accepted.find((s) => s.localPort === port);
  assert.ok(toClient, 'the balancer accepted the client connection');
  let received = '';
  client.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  const closed = once(client, 'close');
  // The client reads slower than the backend sends: the last bytes wait in the balancer.
  toClient.cork();
  closeNow.resolve();
  await closed;
  // Before: the backend's FIN destroyed the client socket with 'bye' still queued on it.
  assert.equal(received, 'bye', 'what the backend sent before its FIN reached the client');
  await balancer.drain('web', 'a');
  assert.equal(balancer.stats('web').backends[0]?.inFlight, 0);
});

test('a client that sends its last message and closes: the backend gets the message before the close', {
  timeout: 10_000,
}, async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end());
  const got = deferred<string>();
  backend.server.on('upgrade', (_req, socket: net.Socket) => {
    socket.write(SWITCH);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    // A FIN ('end') or a reset ('close'): nothing more comes.
    socket.on('end', () => got.resolve(received));
    socket.on('close', () => got.resolve(received));
  });
  const { balancer, port } = await startBalancer(t);
  balancer.setGroup('web', ready(['a', backend.address]));
  const connected = socketsOf(t, 'net.client.socket');
  const client = await opened(t, port);
  const backendPort = Number(backend.address.slice(backend.address.lastIndexOf(':') + 1));
  const toBackend = connected.find((s) => s.remotePort === backendPort);
  assert.ok(toBackend, 'the balancer connected to the backend');
  // The backend reads slower than the client sends: the last bytes wait in the balancer.
  toBackend.cork();
  client.end('bye');
  // Before: the client's FIN destroyed the backend socket with 'bye' still queued on it.
  assert.equal(await got.promise, 'bye', 'what the client sent before its FIN reached the backend');
  await balancer.drain('web', 'a');
  assert.equal(balancer.stats('web').backends[0]?.inFlight, 0);
});
