/**
 * pausableProxy forwards 127.0.0.1:<port> to a real server on `target`; pause() stops forwarding
 * both ways without closing anything, as a server that stops answering (SIGSTOP, a partition) does.
 * hold() stalls only the connections open now, as one stopped server process (a PostgreSQL backend)
 * does: new connections forward at once, and what a held connection was sent is still delivered on
 * resume(), even after its client closed — a stopped process reads its socket buffer, the client's
 * FIN last, when it continues. holdOn() does so to the connection that next carries some text.
 * moveTo() points new connections elsewhere and leaves those open where they lead, as a DNS name or
 * a virtual IP moved by a failover does.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

export async function pausableProxy(target: number) {
  const sockets = new Set<Socket>();
  let paused = false;
  let atPause: Socket[] = [];
  /** Client sockets whose connection hold() stalled, both ways, until resume(). */
  const heldClients = new Set<Socket>();
  /** Each client socket's upstream socket. */
  const clients = new Map<Socket, Socket>();
  let heldUpstreams: Socket[] = [];
  /** Set by holdOn(): the client chunk that, when it passes, stalls its connection. */
  let holdNext: string | undefined;
  let accepted = 0;
  const held: (() => void)[] = [];
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    clients.set(client, upstream);
    client.on('close', () => clients.delete(client));
    const pipe = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (from === client && holdNext !== undefined && chunk.includes(holdNext)) {
          holdNext = undefined;
          atPause = [client];
          heldUpstreams = [upstream];
          heldClients.add(client);
        }
        if (paused || heldClients.has(client)) held.push(() => to.write(chunk));
        else to.write(chunk);
      });
    pipe(client, upstream);
    pipe(upstream, client);
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        if (s === client && heldClients.has(client)) {
          // The server still gets what the client sent before it closed, then the close.
          held.push(() => upstream.end());
          return;
        }
        client.destroy();
        upstream.destroy();
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    /** moveTo forwards the connections accepted from now on to `port` (see above). */
    moveTo: (port: number) => {
      target = port;
    },
    /** Client connections open now. */
    open: () => sockets.size / 2,
    /** Client connections accepted so far. */
    accepted: () => accepted,
    pause: () => {
      paused = true;
      atPause = [...sockets];
    },
    /** hold stalls the connections open now, both ways; later ones forward (see above). */
    hold: () => {
      atPause = [...clients.keys()];
      heldUpstreams = [...clients.values()];
      for (const c of clients.keys()) heldClients.add(c);
    },
    /**
     * holdOn stalls, like hold(), the connection on which the client next sends `text` (that chunk
     * included): a stall that strikes while one given request is on its way.
     */
    holdOn: (text: string) => {
      holdNext = text;
    },
    /** Whether a connection is stalled by hold() or holdOn() now. */
    holding: () => heldClients.size > 0,
    /** dropHeld cuts the stalled connections, both sides, as a link that fails for good does. */
    dropHeld: () => {
      for (const c of heldClients) {
        clients.get(c)?.destroy();
        c.destroy();
      }
      heldClients.clear();
    },
    /** Whether every connection open at pause() or hold() has closed since (its client side). */
    pausedClosed: () => atPause.every((s) => !sockets.has(s)),
    /** Whether the server closed every connection hold() stalled (it read all it was sent, then the close). */
    heldServed: () => heldUpstreams.every((s) => s.destroyed),
    resume: () => {
      paused = false;
      heldClients.clear();
      for (const write of held.splice(0)) write();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
