import { connect } from 'node:net';

/** RawAnswer is what a server did with raw bytes: the status of its first response, or nothing. */
export interface RawAnswer {
  /** Status code of the first response line, or undefined when the server closed without one. */
  status: number | undefined;
  /** Everything the server sent (bounded). */
  text: string;
  /** The server closed the connection (as opposed to the client's deadline passing). */
  closed: boolean;
}

/**
 * sendRaw writes `bytes` on a fresh TCP connection, half-closes unless `keepOpen`, and collects the
 * answer until the server closes or `timeoutMs` passes. For inputs no HTTP client library would send.
 */
export function sendRaw(
  port: number,
  bytes: string | Buffer,
  /** `localAddress`: send from another loopback address (127.0.0.2…), as another client would. */
  options: { timeoutMs?: number; keepOpen?: boolean; localAddress?: string } = {},
): Promise<RawAnswer> {
  const { timeoutMs = 5_000, keepOpen = false, localAddress } = options;
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', ...(localAddress && { localAddress }) });
    let text = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : undefined, text, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (!keepOpen) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      if (text.length < 65_536) text += chunk.toString('latin1');
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

/** SilentClient is a raw connection that sent its request and reads nothing until `drain()`. */
export interface SilentClient {
  /** Starts reading at last: resolves with the bytes received once the server closes the connection. */
  drain(timeoutMs?: number): Promise<{ bytes: number; closed: boolean }>;
  destroy(): void;
}

/**
 * openSilent connects, writes `bytes` and then never reads, like a frozen tab or a stuck proxy:
 * whatever the server sends piles up in the kernel's buffers and then in the server's.
 */
export async function openSilent(port: number, bytes: string): Promise<SilentClient> {
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(bytes);
  socket.on('error', () => {}); // a reset by the server ends drain() through 'close'
  return {
    drain(timeoutMs = 10_000) {
      return new Promise((resolve) => {
        let received = 0;
        const timer = setTimeout(() => resolve({ bytes: received, closed: false }), timeoutMs);
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
        });
        socket.once('close', () => {
          clearTimeout(timer);
          resolve({ bytes: received, closed: true });
        });
        socket.resume();
      });
    },
    destroy: () => socket.destroy(),
  };
}
