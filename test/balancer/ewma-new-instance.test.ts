// ewma (the default algorithm) and an instance just added, with no latency known for it yet.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { config, get, mulberry32, ready, startBackend } from './helpers.js';

test('ewma: an instance just added gets one request until it has answered, not a herd', async (t) => {
  const CLIENTS = 6;
  let oldServed = 0;
  const held: http.ServerResponse[] = [];
  let heldMost = 0;
  let holding = true;
  const release = (): void => {
    holding = false;
    for (const res of held.splice(0)) res.end('new');
  };
  const slowish = (name: string) =>
    startBackend(t, (_req, res) => {
      // Instances that have been answering in ~20 ms: their latency is known.
      setTimeout(() => {
        res.end(name);
        if (!holding) return;
        if (++oldServed >= 60) release();
      }, 20);
    });
  const olds = await Promise.all(['a', 'b', 'c'].map((n) => slowish(n)));
  // The new instance is cold: it answers nothing until the others served 60 more requests (or
  // every client waits on it).
  const fresh = await startBackend(t, (_req, res) => {
    if (!holding) {
      res.end('new');
      return;
    }
    held.push(res);
    heldMost = Math.max(heldMost, held.length);
    if (held.length >= CLIENTS) release();
  });
  const balancer = new Balancer({
    config: config({ algorithm: 'ewma' }),
    metrics: createMetrics({ defaultMetrics: false }),
    random: mulberry32(3),
  });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  const pairs = ['a', 'b', 'c'].map((n, i) => [n, olds[i]!.address] as [string, string]);
  balancer.setGroup('web', ready(...pairs));
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  t.after(() => agent.destroy());
  const run = async (total: number): Promise<void> => {
    let left = total;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (left-- > 0) await get(agent, port);
      }),
    );
  };
  await run(30);
  oldServed = 0;
  balancer.setGroup('web', ready(...pairs, ['new', fresh.address]));
  await run(120);
  t.diagnostic(`new instance held ${heldMost} requests at once before its first answer`);
  assert.equal(
    heldMost,
    1,
    `the new instance, which had not answered yet, was given ${heldMost} requests at once by ${CLIENTS} clients`,
  );
});

test('ewma: an instance whose first request was a WebSocket still gets requests while it is open', async (t) => {
  // A warm instance answering in ~100 ms, and a new one that answers at once.
  const old = await startBackend(t, (_req, res) => {
    setTimeout(() => res.end('old'), 100);
  });
  const fresh = await startBackend(t, (_req, res) => res.end('new'));
  fresh.server.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  const balancer = new Balancer({
    config: config({ algorithm: 'ewma' }),
    metrics: createMetrics({ defaultMetrics: false }),
    random: mulberry32(5),
  });
  t.after(() => balancer.close());
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  balancer.setGroup('web', ready(['old', old.address]));
  for (let i = 0; i < 3; i++) await get(agent, port);
  balancer.setGroup('web', ready(['old', old.address], ['new', fresh.address]));
  // The new instance's first request: a WebSocket, open for the rest of the test.
  const client = net.connect(port, '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write(
    'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const [head] = (await once(client, 'data')) as [Buffer];
  assert.match(head.toString(), /^HTTP\/1\.1 101 /, 'the WebSocket is open');
  const counts: Record<string, number> = {};
  for (let i = 0; i < 10; i++) {
    const name = await get(agent, port);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  client.destroy();
  t.diagnostic(JSON.stringify(counts));
  assert.ok(
    (counts.new ?? 0) > 0,
    `the new instance, answering at once with one WebSocket open, got none of 10 GETs (${JSON.stringify(counts)})`,
  );
});
