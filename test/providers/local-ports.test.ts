// Ports of local instances: a port found by bind(0) and closed is free only when asked, so nothing
// held it until the instance bound it. Two instances started together could be handed one port,
// and another program could take it first. The finder is injected so each case is deterministic.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import {
  lostItsPort,
  type PortFinder,
  PortReservations,
  saysAddressInUse,
} from '../../src/providers/local/index.js';
import { freePort } from '../helpers/ports.js';
import { makeProvider, recordingLogger } from './local-helpers.js';

/** listening holds 127.0.0.1:port (any free one) until the test ends. */
async function listening(t: {
  after: (fn: () => unknown) => void;
}): Promise<{ server: Server; port: number }> {
  // It answers nothing: the instance's readiness probes connect to it while it starts.
  const sockets = new Set<Socket>();
  const server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  assert.ok(typeof address === 'object' && address, "typeof address === 'object' && address");
  return { server, port: address.port };
}

/** finder answers `first` each time (the kernel handing the freed port out again), then real ones. */
function sameThenFree(first: number, times: number): PortFinder & { calls: number } {
  const find = Object.assign(
    async () => {
      find.calls++;
      return find.calls <= times ? first : freePort();
    },
    { calls: 0 },
  );
  return find;
}

describe('local provider ports', () => {
  it('two instances started together never get one port, even when the finder answers it twice', async (t) => {
    const port = await freePort();
    const find = sameThenFree(port, 2);
    const crashes: string[] = [];
    const provider = makeProvider(t, {}, { freePort: find, ports: new PortReservations() });
    provider.on('crash', (instance, detail) => crashes.push(`${instance.id}: ${detail.reason}`));
    await provider.scaleTo(2);
    const instances = provider.instances();
    assert.deepEqual(
      instances.map((i) => i.state),
      ['ready', 'ready'],
    );
    assert.equal(
      new Set(instances.map((i) => i.address)).size,
      2,
      `addresses: ${instances.map((i) => i.address)}`,
    );
    assert.deepEqual(crashes, []);
  });

  it('a port another program took first: started again on a fresh port, not counted as a crash', async (t) => {
    const taken = await listening(t);
    const find = sameThenFree(taken.port, 1);
    const crashes: string[] = [];
    const logger = recordingLogger();
    const provider = makeProvider(t, {}, { freePort: find, ports: new PortReservations(), logger });
    provider.on('crash', (instance, detail) => crashes.push(`${instance.id}: ${detail.reason}`));
    await provider.scaleTo(1);
    const [instance] = provider.instances();
    assert.equal(instance?.state, 'ready');
    assert.notEqual(instance.address, `127.0.0.1:${taken.port}`);
    assert.deepEqual(crashes, [], 'a taken port is not a crash of the app');
    assert.ok(
      logger.lines.some((l) => l.level === 'warn' && /the port was taken/.test(l.msg)),
      'the retry is logged',
    );
  });

  it('an app that always fails with EADDRINUSE (a fixed port of its own) is a crash after 3 retries', async (t) => {
    const logger = recordingLogger();
    const provider = makeProvider(
      t,
      {
        command: `"${process.execPath}" -e "console.error('Error: listen EADDRINUSE: address already in use 127.0.0.1:3000'); process.exit(1)"`,
      },
      { ports: new PortReservations(), logger },
    );
    const crashed = new Promise<string>((resolve) =>
      provider.once('crash', (instance) => resolve(instance.id)),
    );
    void provider.scaleTo(1).catch(() => {});
    assert.equal(await crashed, 'web-4', 'web-1..3 retried on a fresh port, web-4 counted');
    assert.equal(logger.lines.filter((l) => /the port was taken/.test(l.msg)).length, 3);
  });

  it('lostItsPort and saysAddressInUse (pure)', () => {
    for (const [line, expected] of [
      ['Error: listen EADDRINUSE: address already in use 127.0.0.1:41234', true],
      ['OSError: [Errno 98] Address already in use', true],
      ['listen tcp 127.0.0.1:8080: bind: address already in use', true],
      ['Error: connect ECONNREFUSED 127.0.0.1:5432', false],
    ] as const) {
      assert.equal(saysAddressInUse(line), expected, line);
    }
    assert.equal(lostItsPort({ saidAddressInUse: true, portAfterExit: 'skipped' }), true);
    assert.equal(lostItsPort({ saidAddressInUse: false, portAfterExit: 'open' }), true);
    assert.equal(lostItsPort({ saidAddressInUse: false, portAfterExit: 'refused' }), false);
  });

  it('PortReservations: a held port is never handed out until released', async () => {
    const ports = new PortReservations();
    const answers = [5000, 5000, 5000, 5001];
    const find: PortFinder = async () => answers.shift()!;
    assert.equal(await ports.reserve('127.0.0.1', find), 5000);
    assert.equal(await ports.reserve('127.0.0.1', find), 5001);
    ports.release(5000);
    assert.equal(await ports.reserve('127.0.0.1', async () => 5000), 5000);
    await assert.rejects(
      ports.reserve('127.0.0.1', async () => 5000),
      /no port on 127.0.0.1/,
    );
  });
});
