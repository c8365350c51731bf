// deliveryWithin, the silence test stop() uses before it cancels a RabbitMQ consumer (quiesce). A
// delivery already in the socket when the event loop comes back from a block longer than the quiet
// window must count as one: due timers run before sockets are polled, and before, the timer alone
// said "silence", the consumer was cancelled and the deliveries on their way went back to the
// quorum queue counted as a stall (a loaded CI run: 5 of 300 jobs at attempt 2 in
// rabbitmq-close-midstream).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { deliveryWithin, quiesceChannel } from '../../src/queue/rabbitmq/quiet.js';

/** A connected pair of loopback sockets. */
async function socketPair(t: import('node:test').TestContext): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as import('node:net').AddressInfo;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = await accepted;
  t.after(() => {
    client.destroy();
    peer.destroy();
    server.close();
  });
  return [client, peer];
}

function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // Busy: the event loop neither runs timers nor reads sockets meanwhile.
  }
}

test('a delivery read after a block longer than the quiet window counts as one', async (t) => {
  const [client, peer] = await socketPair(t);
  const listeners = new Set<() => void>();
  client.on('data', () => {
    for (const listener of listeners) listener();
  });
  const verdict = deliveryWithin((delivered) => {
    listeners.add(delivered);
    return () => listeners.delete(delivered);
  }, 20);
  peer.write('basic.deliver');
  // The bytes reach the client's socket during the block; its timer falls due during it too.
  blockFor(100);
  assert.equal(await verdict, true, 'the delivery in the socket was taken for silence');
  assert.equal(listeners.size, 0, 'the listener was left registered');
});

test('silence is silence: no delivery within the window resolves false', async (t) => {
  const [client] = await socketPair(t);
  const listeners = new Set<() => void>();
  client.on('data', () => {
    for (const listener of listeners) listener();
  });
  const started = performance.now();
  const arrived = await deliveryWithin((delivered) => {
    listeners.add(delivered);
    return () => listeners.delete(delivered);
  }, 20);
  assert.equal(arrived, false, 'a delivery came where none was sent');
  assert.ok(performance.now() - started >= 19, 'resolved before the quiet window ended');
  assert.equal(listeners.size, 0, 'the listener was left registered');
});

test('a verdict is given once: a delivery after it leaves the next listener registered', async () => {
  const listeners = new Set<() => void>();
  const listen = (delivered: () => void) => {
    listeners.add(delivered);
    return () => listeners.delete(delivered);
  };
  let fire = () => {};
  const first = deliveryWithin((delivered) => {
    fire = delivered;
    return listen(delivered);
  }, 1_000);
  fire();
  assert.equal(await first, true);
  const second = deliveryWithin(listen, 1_000);
  fire(); // the first one's callback again: must not unregister the second's
  assert.equal(
    listeners.size,
    1,
    "a late call of the first verdict's callback unregistered the next listener",
  );
  for (const listener of [...listeners]) listener();
  assert.equal(await second, true);
});

// quiesceChannel's deadline (at most IN_TRANSIT_WAIT ms of waiting) was timed on Date.now: a step
// forward of the system clock during the wait ended it at once, and the deliveries on their way went
// back to the queue counted as a stall. The step is made by replacing Date.now; performance.now, the
// monotonic clock, is left alone.
test('a step forward of the system clock does not end the wait for deliveries on their way', async (t) => {
  const real = Date.now;
  t.after(() => {
    Date.now = real;
  });
  const prefetch = 3;
  let received = 0;
  await quiesceChannel(
    {
      // The step comes while the channel's round trip is under way, after the wait began.
      barrier: async () => {
        Date.now = () => real() + 10 * 60_000;
      },
      windowFull: () => received >= prefetch,
      // Each listen finds one more delivery arriving, until the window is full.
      listen: (delivered) => {
        queueMicrotask(() => {
          received++;
          delivered();
        });
        return () => {};
      },
    },
    1_000,
    50,
  );
  Date.now = real;
  assert.equal(received, prefetch, 'quiesce stopped waiting before the window was full');
});
