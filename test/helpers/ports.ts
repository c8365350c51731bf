import { createServer } from 'node:net';

/**
 * freePort asks the kernel for a loopback port nobody listens on, for a server started later that
 * cannot listen on 0 itself (nginx, prometheus, a config written before the server runs). Another
 * process could take it in between; on this single test machine that has not happened.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
