// freePort finds ports for servers a test starts later (redis-server, nginx, prometheus...). It used
// bind(0) and close: such a port lies in the ephemeral range, where until the server bound it the
// kernel could hand it to another test file's bind(0) or to an outgoing connection's source port.
// Now its ports come from TEST_PORT_RANGE, outside that range and the local provider's default.
// closedPort, for a connection a test expects refused, had the same race the other way round: tests
// had their own bind(0)-and-close helpers, and the kernel could give that port to another bind(0).
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { defaultPortRange, overlap, portCount, readEphemeralRange } from '../../src/providers/local/index.js';
import { closedPort, freePort, TEST_PORT_RANGE } from './ports.js';

/** listen binds 127.0.0.1:port and keeps it until the test ends; false when it is taken. */
async function listen(t: { after: (fn: () => unknown) => void }, port: number): Promise<boolean> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
  });
  if (bound) t.after(() => new Promise((resolve) => server.close(resolve)));
  return bound;
}

const ephemeral = readEphemeralRange();

describe('test ports (freePort)', { skip: ephemeral === undefined && 'no ip_local_port_range here' }, () => {
  it('TEST_PORT_RANGE lies outside the ephemeral range and the default instance range', () => {
    assert.ok(TEST_PORT_RANGE !== undefined, 'a test port range');
    assert.equal(overlap(TEST_PORT_RANGE, ephemeral!), undefined, 'shares no port with the ephemeral range');
    const instances = defaultPortRange(ephemeral);
    if (instances !== undefined)
      assert.equal(overlap(TEST_PORT_RANGE, instances), undefined, 'shares no port with the instances');
    assert.ok(TEST_PORT_RANGE.low >= 10000, `range starts at ${TEST_PORT_RANGE.low}`);
    assert.ok(portCount(TEST_PORT_RANGE) >= 1000, `${portCount(TEST_PORT_RANGE)} ports`);
  });

  it('hands out 200 distinct ports of TEST_PORT_RANGE, each one a server can bind', async (t) => {
    const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length, 'distinct');
    for (const port of ports) {
      assert.ok(port >= TEST_PORT_RANGE!.low && port <= TEST_PORT_RANGE!.high, `${port} in TEST_PORT_RANGE`);
      assert.ok(port < ephemeral!.low || port > ephemeral!.high, `${port} outside the ephemeral range`);
    }
    // They are free: the servers the tests start on them bind them.
    for (const port of ports) assert.ok(await listen(t, port), `${port} can be bound`);
  });

  it('passes over a port another program listens on, for the next one up', async (t) => {
    const range = TEST_PORT_RANGE!;
    // A port of the range held by a listener freePort knows nothing of (as another test file's).
    let taken = range.low + Math.floor(Math.random() * (portCount(range) - 1));
    while (!(await listen(t, taken))) taken++;
    const at = (port: number) => () => (port - range.low + 0.5) / portCount(range);
    const port = await freePort({ random: at(taken) });
    assert.notEqual(port, taken, 'not the taken port');
    assert.ok(port > taken && port <= range.high, `${port} is above ${taken}`);
    assert.ok(await listen(t, port), `${port} can be bound`);
  });
});

describe('closed ports', { skip: ephemeral === undefined && 'no ip_local_port_range here' }, () => {
  it('gives a port of TEST_PORT_RANGE that refuses connections and that freePort never hands out', async () => {
    const port = await closedPort();
    assert.ok(port >= TEST_PORT_RANGE!.low && port <= TEST_PORT_RANGE!.high, `${port} in TEST_PORT_RANGE`);
    assert.ok(port < ephemeral!.low || port > ephemeral!.high, `${port} outside the ephemeral range`);
    const refused = await new Promise<string>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    assert.equal(refused, 'ECONNREFUSED');
    // freePort, asked to start its search at that very port, passes over it.
    const range = TEST_PORT_RANGE!;
    const next = await freePort({ random: () => (port - range.low + 0.5) / portCount(range) });
    assert.notEqual(next, port, 'freePort hands the closed port out again');
  });
});
