/**
 * pausableProxy forwards 127.0.0.1:<port> to a real server on `target`; pause() stops forwarding
 * both ways without closing anything, as a server that stops answering (SIGSTOP, a partition) does.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

export async function pausableProxy(target: number) {
  const sockets = new Set<Socket>();
  let paused = false;
  let atPause: Socket[] = [];
  let accepted = 0;
  const held: (() => void)[] = [];
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    const pipe = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (paused) held.push(() => to.write(chunk));
        else to.write(chunk);
      });
    pipe(client, upstream);
    pipe(upstream, client);
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(s);
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    /** Client connections open now. */
    open: () => sockets.size / 2,
    /** Client connections accepted so far. */
    accepted: () => accepted,
    pause: () => {
      paused = true;
      atPause = [...sockets];
    },
    /** Whether every connection open at pause() has closed since. */
    pausedClosed: () => atPause.every((s) => !sockets.has(s)),
    resume: () => {
      paused = false;
      for (const write of held.splice(0)) write();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
