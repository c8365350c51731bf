// Requests a client pipelines on one HTTP/1.1 connection are proxied one at a time (as NGINX and
// Envoy do), answered in order, and a deep pipeline is not read ahead without bound.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { inTurn, MAX_WAITING } from '../../src/balancer/pipeline.js';
import { config, ready, startBackend, startBalancer } from './helpers.js';

test('pipelined requests on one connection reach the backends one at a time and are answered in order', async (t) => {
  let inFlight = 0;
  let most = 0;
  const backend = await startBackend(t, (req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    // Long enough for every request written to have been parsed by the balancer meanwhile.
    setTimeout(() => {
      inFlight--;
      res.end(req.url);
    }, 20);
  });
  const { balancer, port } = await startBalancer(t, config());
  balancer.setGroup('web', ready(['web-1', backend.address]));
  const count = MAX_WAITING * 3;
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let requests = '';
  for (let i = 0; i < count; i++)
    requests += `GET /${i} HTTP/1.1\r\nHost: a\r\n${i === count - 1 ? 'Connection: close\r\n' : ''}\r\n`;
  socket.write(requests);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  await once(socket, 'close');
  const bodies = [...text.matchAll(/\r\n\r\n(\/\d+)/g)].map((match) => match[1]);
  assert.deepEqual(
    bodies,
    Array.from({ length: count }, (_, i) => `/${i}`),
    'every pipelined request answered, in order',
  );
  assert.equal(
    most,
    1,
    `one connection's pipelined requests must not run together upstream, saw ${most} at once`,
  );
});

test('a connection with MAX_WAITING pipelined requests waiting is read no more until one is answered', async (t) => {
  const held: (() => void)[] = [];
  let pausedWhileFull: boolean | undefined;
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const answer = () => res.end(req.url);
    if (req.url === '/0') held.push(answer);
    else answer();
  };
  let seen = 0;
  const server = http.createServer((req, res) => {
    seen++;
    inTurn(req, res, handle);
    if (seen === MAX_WAITING + 1) {
      pausedWhileFull = req.socket.isPaused();
      held.shift()!();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const count = MAX_WAITING + 4;
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let requests = '';
  for (let i = 0; i < count; i++)
    requests += `GET /${i} HTTP/1.1\r\nHost: a\r\n${i === count - 1 ? 'Connection: close\r\n' : ''}\r\n`;
  socket.write(requests);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  await once(socket, 'close');
  assert.equal(
    pausedWhileFull,
    true,
    `the connection must be paused with ${MAX_WAITING} waiting, isPaused() was ${pausedWhileFull}`,
  );
  const bodies = [...text.matchAll(/\r\n\r\n(\/\d+)/g)].map((match) => match[1]);
  assert.deepEqual(
    bodies,
    Array.from({ length: count }, (_, i) => `/${i}`),
    'every pipelined request answered in order once reading resumed',
  );
});
